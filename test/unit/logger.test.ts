import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import winston from 'winston';
import fc from 'fast-check';
import {
  createLogger,
  createSilentLogger,
  redactSecrets,
  redactUrl,
  redactUrlCredentials,
  type Logger,
} from '../../shared/src/core/logger.js';

const PASSWORD = 's3cr3t-Pa55';
const AMQP = `amqp://celerity:${PASSWORD}@rabbit.internal:5672/prod`;
const PG = `postgres://celerity:${PASSWORD}@db.internal:5432/celerity`;

/** A logger whose lines go to an array instead of the console. */
function capture(json: boolean, level: 'debug' | 'info' = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  const logger = createLogger({ service: 'test', level, json, transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines };
}

/** Logs through `fn` in both formats and returns every line written. */
async function logBoth(fn: (logger: Logger) => void, expectedLines = 1): Promise<{ json: string[]; text: string[] }> {
  const out: { json: string[]; text: string[] } = { json: [], text: [] };
  for (const json of [true, false]) {
    const { logger, lines } = capture(json);
    fn(logger);
    const deadline = Date.now() + 1000;
    while (lines.length < expectedLines && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lines.length, expectedLines, `${json ? 'JSON' : 'text'} format wrote ${lines.length} lines`);
    (json ? out.json : out.text).push(...lines);
  }
  return out;
}

function assertNoPassword(out: { json: string[]; text: string[] }): void {
  for (const [format, lines] of Object.entries(out)) {
    for (const line of lines) assert.ok(!line.includes(PASSWORD), `${format} line leaks the password: ${line}`);
  }
}

describe('redactSecrets / redactUrl', () => {
  it('hides the password of amqp:// and postgres:// URLs, keeping the user and host', () => {
    assert.equal(redactUrl(AMQP), 'amqp://celerity:***@rabbit.internal:5672/prod');
    assert.equal(redactUrl(PG), 'postgres://celerity:***@db.internal:5432/celerity');
    assert.equal(redactUrl('amqps://guest:guest@127.0.0.1'), 'amqps://guest:***@127.0.0.1');
    assert.equal(redactUrl('postgresql://u:p@h/db?sslmode=require'), 'postgresql://u:***@h/db?sslmode=require');
  });

  it('leaves URLs without a password alone', () => {
    for (const url of ['amqp://127.0.0.1:5672', 'amqp://guest@host', 'postgres://db/celerity', 'http://host:8080/path']) {
      assert.equal(redactUrl(url), url);
    }
  });

  it('redacts every URL inside a longer text, including a comma-separated list', () => {
    const text = `Cannot connect to RabbitMQ at ${AMQP}, amqp://other:${PASSWORD}@node2 (and ${PG})`;
    const redacted = redactSecrets(text);
    assert.ok(!redacted.includes(PASSWORD), redacted);
    assert.equal(
      redacted,
      'Cannot connect to RabbitMQ at amqp://celerity:***@rabbit.internal:5672/prod, amqp://other:***@node2 (and postgres://celerity:***@db.internal:5432/celerity)',
    );
  });

  it('redacts a password with no user name', () => {
    assert.equal(redactUrl(`amqp://:${PASSWORD}@host`), 'amqp://:***@host');
  });

  it("hides all of a password that contains a raw '@' (URL parsers take the last '@')", () => {
    // new URL() (and so amqplib and AMQP_URL validation) accepts this, with password "p@ss-word".
    const url = 'amqp://user:p@ss-word@host:5672';
    assert.equal(new URL(url).host, 'host:5672');
    const redacted = redactUrl(url);
    assert.ok(!redacted.includes('ss-word'), `password fragment leaked: ${redacted}`);
  });
});

describe('createLogger: passwords never reach the output', () => {
  it('in the message', async () => {
    const out = await logBoth((logger) => logger.info(`connecting to ${AMQP}`));
    assertNoPassword(out);
    assert.ok(out.json[0]?.includes('amqp://celerity:***@rabbit.internal:5672/prod'), 'the redacted URL is still logged');
    assert.ok(out.text[0]?.includes('amqp://celerity:***@rabbit.internal:5672/prod'));
  });

  it('in metadata, top-level and nested in objects and arrays', async () => {
    const out = await logBoth((logger) => logger.warn('retrying', { url: AMQP, db: { url: PG }, nodes: [AMQP, { url: AMQP }] }));
    assertNoPassword(out);
    const parsed = JSON.parse(out.json[0] ?? '{}');
    assert.equal(parsed.url, 'amqp://celerity:***@rabbit.internal:5672/prod');
    assert.equal(parsed.db.url, 'postgres://celerity:***@db.internal:5432/celerity');
    assert.equal(parsed.level, 'warn');
    assert.equal(parsed.service, 'test');
  });

  it('in deeply nested metadata', async () => {
    const out = await logBoth((logger) => logger.info('deep', { a: { b: { c: { d: { e: { f: { url: AMQP } } } } } } }));
    assertNoPassword(out);
  });

  it('in the default metadata of a child logger', async () => {
    const out = await logBoth((logger) => logger.child({ broker: AMQP }).info('child line'));
    assertNoPassword(out);
  });

  it("in an Error's message and stack logged as { err }", async () => {
    const out = await logBoth((logger) => logger.error('broker failed', { err: new Error(`connect ECONNREFUSED ${AMQP}`) }));
    assertNoPassword(out);
    const parsed = JSON.parse(out.json[0] ?? '{}');
    assert.equal(parsed.err.type, 'Error');
    assert.equal(parsed.err.message, 'connect ECONNREFUSED amqp://celerity:***@rabbit.internal:5672/prod');
    assert.match(parsed.err.stack, /^Error: connect ECONNREFUSED amqp:\/\/celerity:\*\*\*@/);
  });

  it("keeps an Error's code when logged as { err }", async () => {
    const err = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    const out = await logBoth((logger) => logger.error('x', { err }));
    assert.equal(JSON.parse(out.json[0] ?? '{}').err.code, 'ECONNREFUSED');
  });

  it('in an Error given as the second argument', async () => {
    const out = await logBoth((logger) => logger.warn('while connecting', new Error(`refused by ${AMQP}`)));
    assertNoPassword(out);
  });

  it('in an Error logged on its own', async () => {
    const out = await logBoth((logger) => logger.error(new Error(`Cannot connect to RabbitMQ at ${AMQP}`)));
    assertNoPassword(out);
  });

  it('in an Error under another metadata key (e.g. an invalid-URL TypeError, whose `input` is the URL)', async () => {
    let urlError: unknown;
    try {
      new URL(`amqp://celerity:${PASSWORD}@rabbit.internal:99999`);
    } catch (err) {
      urlError = err;
    }
    assert.ok(urlError instanceof TypeError);
    const out = await logBoth((logger) => logger.warn('bad broker URL', { cause: urlError }));
    assertNoPassword(out);
  });

  it('respects the level', async () => {
    const { logger, lines } = capture(true, 'info');
    logger.debug(`hidden ${AMQP}`);
    logger.info('shown');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /"message":"shown"/);
  });
});

describe('createSilentLogger', () => {
  it('is silent and accepts every level', () => {
    const logger = createSilentLogger();
    assert.equal(logger.silent, true);
    logger.error('x');
    logger.debug('y', { url: AMQP });
  });
});

describe('redaction of API keys and bearer tokens', () => {
  const KEY = 'cel_0123456789ab_' + 'S'.repeat(40) + 'x-y';

  it('keeps the key id and drops the secret, in text and in an Authorization header value', () => {
    assert.equal(redactSecrets(`key ${KEY} refused`), 'key cel_0123456789ab_*** refused');
    assert.equal(redactSecrets('Authorization: Bearer abc.def-ghi'), 'Authorization: Bearer ***');
    assert.equal(redactSecrets('Basic Zm9vOmJhcg=='), 'Basic ***');
  });

  it('hides metadata fields named like credentials, at any depth', async () => {
    const out = await logBoth((logger) =>
      logger.info('request', { headers: { authorization: 'opaque-token-1', cookie: 'celerity_session=opaque-2' }, apiKey: 'opaque-3', token: 'opaque-4' }),
    );
    for (const line of [...out.json, ...out.text]) {
      assert.ok(!/opaque-[1-4]/.test(line), line);
    }
    assert.equal(JSON.parse(out.json[0] ?? '{}').headers.authorization, '***');
  });

  it('in messages and errors', async () => {
    const out = await logBoth((logger) => logger.error(`rejected ${KEY}`, { err: new Error(`bad key Bearer ${KEY}`) }));
    for (const line of [...out.json, ...out.text]) assert.ok(!line.includes('S'.repeat(40)), line);
  });
});

describe('URL credential redaction is linear', () => {
  // The regular expression it replaces: quadratic, but the reference for what is matched.
  const OLD_URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^/?#\s]*@/gi;

  it('matches what the old regular expression matched (property, seeded)', () => {
    const alphabet = fc.constantFrom('a', 'Z', '1', '+', '.', '-', ':', '/', '@', '?', '#', ' ', '\n', '\u00a0', 'x', 'é');
    fc.assert(
      fc.property(fc.array(fc.oneof(alphabet, fc.constantFrom('://', 'amqp://u:p@h', 'p@ss@')), { maxLength: 40 }), (parts) => {
        const text = parts.join('');
        assert.equal(redactUrlCredentials(text), text.replace(OLD_URL_CREDENTIALS, '$1:***@'));
      }),
      { seed: 11, numRuns: 3000 },
    );
  });

  it('finishes on 1 MB adversarial inputs (minutes for the old regular expression)', () => {
    const inputs = ['a'.repeat(1_000_000), `postgres://u:${'p'.repeat(1_000_000)}`, 'a://'.repeat(250_000), `x://${':'.repeat(1_000_000)}`];
    for (const text of inputs) assert.equal(redactSecrets(text), text);
    const many = 'amqp://u:p@h '.repeat(80_000);
    assert.equal(redactSecrets(many), 'amqp://u:***@h '.repeat(80_000));
  });
});
