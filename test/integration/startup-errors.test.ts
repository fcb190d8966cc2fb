/**
 * One style of start-up error (issue 21, item 6): each case's stderr (one or two lines, each
 * `celerity: …`, the flag or variable the user set, the service and its URL without the
 * password, a hint) and its exit code; `--verbose` adds the stack; a syntax error in the app
 * keeps node's `file.mjs:3` location. Also `celerity call` refusing bad input (exit 2) and
 * `celerity purge` of a queue that does not exist (exit 5).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { CELERITY_CLI, DEMO_APP } from '../helpers/demo.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL } from '../helpers/env.js';

const run = promisify(execFile);

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function celerity(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CELERITY_CLI, ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as Outcome;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The one style: one or two lines, each starting `celerity: `, the second a hint. */
function assertStyle(outcome: Outcome, code: number): string[] {
  assert.equal(outcome.code, code, outcome.stderr);
  const lines = outcome.stderr.trimEnd().split('\n');
  assert.ok(lines.length >= 1 && lines.length <= 2, outcome.stderr);
  assert.ok(lines.every((l) => l.startsWith('celerity: ')), outcome.stderr);
  if (lines.length === 2) assert.ok(lines[1]?.startsWith('celerity: hint: '), outcome.stderr);
  assert.ok(!/npm start/.test(outcome.stderr), 'no hint that only makes sense in the repository');
  return lines;
}

describe('start-up errors', { timeout: 240_000 }, () => {
  const schema = `t_err_${randomBytes(4).toString('hex')}`;
  const services = { AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema };
  let dir: string;
  let squatter: Server;
  let takenPort: number;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'celerity-errors-'));
    squatter = createServer();
    squatter.listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    takenPort = (squatter.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((resolve) => squatter.close(resolve));
    await rm(dir, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it('--port 99999 is reported as --port (exit 2), GATEWAY_PORT=99999 as GATEWAY_PORT', async () => {
    const [flag] = assertStyle(await celerity(['gateway', '--app', DEMO_APP, '--port', '99999'], { GATEWAY_PORT: '8080' }), 2);
    assert.match(flag ?? '', /--port must be a whole number from 0 to 65535, got "99999"/);
    assert.ok(!flag?.includes('GATEWAY_PORT'), flag);
    const [variable] = assertStyle(await celerity(['gateway', '--app', DEMO_APP], { GATEWAY_PORT: '99999' }), 2);
    assert.match(variable ?? '', /GATEWAY_PORT must be/);
  });

  it('an unreachable DATABASE_URL names PostgreSQL, the URL without its password and DATABASE_URL (exit 3); --verbose adds the stack', async () => {
    const env = { ...services, DATABASE_URL: 'postgres://celerity:pg-s3cret@127.0.0.1:1/celerity_test' };
    const lines = assertStyle(await celerity(['worker', '--app', DEMO_APP], env), 3);
    assert.match(lines[0] ?? '', /^celerity: cannot reach PostgreSQL at postgres:\/\/celerity:\*\*\*@127\.0\.0\.1:1\/celerity_test \(DATABASE_URL\): .*ECONNREFUSED/);
    assert.match(lines[1] ?? '', /is PostgreSQL running and reachable from this host\? Check DATABASE_URL/);
    const verbose = await celerity(['worker', '--app', DEMO_APP, '--verbose'], env);
    assert.equal(verbose.code, 3);
    assert.match(verbose.stderr, /\n\s+at /, 'the stack');
    assert.ok(!verbose.stderr.includes('pg-s3cret'), verbose.stderr);
    assert.match((await celerity(['migrate'], { ...env, DEBUG: '1' })).stderr, /\n\s+at /, 'DEBUG adds the stack too');
  });

  it('an unreachable AMQP_URL names RabbitMQ and AMQP_URL, with a hint that makes sense anywhere (exit 3)', async () => {
    const lines = assertStyle(await celerity(['gateway', '--app', DEMO_APP, '--port', '0'], { ...services, AMQP_URL: 'amqp://guest:mq-s3cret@127.0.0.1:1' }), 3);
    assert.match(lines[0] ?? '', /^celerity: cannot reach RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1 \(AMQP_URL\): .*ECONNREFUSED/);
    assert.match(lines[1] ?? '', /Check AMQP_URL/);
  });

  it('a metrics port given and taken is an error naming the flag (exit 2)', async () => {
    const [line] = assertStyle(await celerity(['worker', '--app', DEMO_APP, '--metrics-port', String(takenPort)], services), 2);
    assert.match(line ?? '', new RegExp(`--metrics-port ${takenPort} is taken`));
  });

  it('a gateway --port that is taken is an error naming --port (exit 2)', async () => {
    const [line] = assertStyle(await celerity(['gateway', '--app', DEMO_APP, '--port', String(takenPort)], services), 2);
    assert.match(line ?? '', new RegExp(`--port ${takenPort} is taken on 127\\.0\\.0\\.1`));
  });

  it('a syntax error in the app module names its file and line, as node prints it (exit 2)', async () => {
    const file = path.join(dir, 'broken.mjs');
    await writeFile(file, "export const a = 1;\nconst b = 2;\nconst = 3;\n");
    const outcome = await celerity(['worker', '--app', file], services);
    assert.equal(outcome.code, 2, outcome.stderr);
    assert.match(outcome.stderr, /^celerity: .*broken\.mjs \(--app\) has a syntax error: Unexpected token/);
    assert.match(outcome.stderr, /broken\.mjs:3\nconst = 3;\n\s+\^/);
  });

  it('a missing app module: exit 2, naming it', async () => {
    const [line] = assertStyle(await celerity(['gateway'], { CELERITY_APP: 'no/such/tasks.js' }), 2);
    assert.match(line ?? '', /no\/such\/tasks\.js: no such app module/);
  });

  it('celerity call: JSON that does not parse, or arguments the task refuses, exit 2 with the validation message', async () => {
    const [json] = assertStyle(await celerity(['call', 'demo.add', '--args', '[1, 2'], services), 2);
    assert.match(json ?? '', /--args is not valid JSON/);
    const [shape] = assertStyle(await celerity(['call', 'demo.add', '--args', '{"a": 1}'], services), 2);
    assert.match(shape ?? '', /--args must be a JSON array/);
    const [refused] = assertStyle(await celerity(['call', 'demo.add', '--args', '["one", 2]', '--app', DEMO_APP], services), 2);
    assert.match(refused ?? '', /expected number/i);
    const [unknown] = assertStyle(await celerity(['call', 'demo.nope', '--app', DEMO_APP], services), 2);
    assert.match(unknown ?? '', /demo\.nope/);
  });

  it('celerity purge of a queue that does not exist says so and exits 5', async () => {
    const queue = `test.nosuch.${randomBytes(4).toString('hex')}`;
    const [line] = assertStyle(await celerity(['purge', queue, '--force'], services), 5);
    assert.match(line ?? '', new RegExp(`no queue "${queue.replace(/\./g, '\\.')}" on RabbitMQ at amqp://guest:\\*\\*\\*@`));
  });
});
