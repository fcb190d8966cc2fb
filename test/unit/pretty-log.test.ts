/** LOG_FORMAT=pretty: readable lines with the same fields as JSON, stacks on lines of their own, colours only when asked. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger, type Logger } from '../../shared/src/core/logger.js';

function capture(format: 'json' | 'pretty', color = false): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString().replace(/\n$/, ''));
      done();
    },
  });
  const logger = createLogger({ service: 'worker', level: 'debug', format, color, transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines };
}

async function flushed(logger: Logger): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  logger.close();
}

describe('pretty log lines', () => {
  it('carry the same fields as the JSON form, as key=value', async () => {
    const json = capture('json');
    const pretty = capture('pretty');
    for (const { logger } of [json, pretty]) logger.warn('task failed', { taskId: 'abc-1', task: 'img.resize', queue: 'images', attempt: 2, meta: { a: 1 } });
    await Promise.all([flushed(json.logger), flushed(pretty.logger)]);
    const parsed = JSON.parse(json.lines[0] ?? '{}') as Record<string, unknown>;
    const line = pretty.lines[0] ?? '';
    assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} worker warn: task failed {2}/);
    for (const key of Object.keys(parsed).filter((k) => !['level', 'message', 'service', 'timestamp'].includes(k))) {
      assert.ok(line.includes(`${key}=`), `pretty line has ${key}: ${line}`);
    }
    assert.ok(line.includes('meta={"a":1}'), line);
    assert.ok(line.includes('task=img.resize'), line);
  });

  it('print an error stack on lines of their own, not as escaped \\n', async () => {
    const { logger, lines } = capture('pretty');
    const err = new TypeError('boom');
    logger.error('task failed', { err });
    await flushed(logger);
    const text = lines.join('\n');
    assert.ok(!text.includes('\\n'), text);
    const [head, ...rest] = text.split('\n');
    assert.match(head ?? '', /worker error: task failed {2}err="TypeError: boom"/);
    assert.ok(rest.length >= 2, 'the stack follows on its own lines');
    assert.ok(rest.some((l) => /^\s+at /.test(l)), text);
  });

  it('quote values with spaces or quotes, so a line splits back into its fields', async () => {
    const { logger, lines } = capture('pretty');
    logger.info('hello', { text: 'two words', quote: 'say "hi"', empty: '' });
    await flushed(logger);
    assert.ok(lines[0]?.includes('text="two words"'), lines[0]);
    assert.ok(lines[0]?.includes('quote="say \\"hi\\""'), lines[0]);
    assert.ok(lines[0]?.includes('empty=""'), lines[0]);
  });

  it('colour the level only when asked (NO_COLOR / FORCE_COLOR decide it in the config)', async () => {
    const plain = capture('pretty', false);
    const coloured = capture('pretty', true);
    plain.logger.info('x');
    coloured.logger.info('x');
    await Promise.all([flushed(plain.logger), flushed(coloured.logger)]);
    assert.ok(!(plain.lines[0] ?? '').includes('\u001b['), plain.lines[0]);
    assert.ok((coloured.lines[0] ?? '').includes('\u001b[32minfo\u001b[0m'), coloured.lines[0]);
  });
});
