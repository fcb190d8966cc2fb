/** The entry points: invalid configuration stops the process with a message naming the variable. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { TEST_DATABASE_URL } from '../helpers/env.js';
import { MIGRATIONS } from '../../shared/src/index.js';

const run = promisify(execFile);
const GATEWAY_MAIN = new URL('../../gateway/src/main.js', import.meta.url).pathname;
const WORKER_MAIN = new URL('../../worker/src/main.js', import.meta.url).pathname;

async function exits(file: string, args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string; stdout: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [file, ...args], { env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string; stdout: string };
    return { code: e.code, stderr: e.stderr, stdout: e.stdout };
  }
}

describe('command line', () => {
  const invalid: { name: string; file: string; args: string[]; env: Record<string, string>; names: RegExp }[] = [
    { name: 'GATEWAY_PORT', file: GATEWAY_MAIN, args: [], env: { GATEWAY_PORT: 'eighty' }, names: /GATEWAY_PORT/ },
    { name: 'AMQP_URL', file: GATEWAY_MAIN, args: [], env: { AMQP_URL: 'http://localhost' }, names: /AMQP_URL must be an amqp:\/\/ or amqps:\/\/ URL/ },
    { name: 'GATEWAY_MAX_BODY', file: GATEWAY_MAIN, args: [], env: { GATEWAY_MAX_BODY: 'lots' }, names: /GATEWAY_MAX_BODY/ },
    { name: 'GATEWAY_HOST without auth', file: GATEWAY_MAIN, args: [], env: { GATEWAY_HOST: '0.0.0.0' }, names: /GATEWAY_HOST.*AUTH_DISABLED=true/ },
    { name: 'LOG_LEVEL', file: GATEWAY_MAIN, args: [], env: { LOG_LEVEL: 'loud' }, names: /LOG_LEVEL/ },
    { name: '--concurrency', file: WORKER_MAIN, args: ['--concurrency', '0'], env: {}, names: /--concurrency/ },
    { name: 'WORKER_CONCURRENCY', file: WORKER_MAIN, args: [], env: { WORKER_CONCURRENCY: 'many' }, names: /WORKER_CONCURRENCY/ },
    { name: '--queues', file: WORKER_MAIN, args: ['--queues', 'ok,amq.bad'], env: {}, names: /--queues.*amq\.bad/ },
    { name: 'DATABASE_URL', file: WORKER_MAIN, args: ['migrate'], env: { DATABASE_URL: 'mysql://x' }, names: /DATABASE_URL/ },
  ];
  for (const c of invalid) {
    it(`an invalid ${c.name} stops the process with a message naming it`, async () => {
      const { code, stderr } = await exits(c.file, c.args, c.env);
      assert.equal(code, 2);
      assert.match(stderr, c.names);
    });
  }

  it('worker --help lists the flags', async () => {
    const { code, stdout } = await exits(WORKER_MAIN, ['worker', '--help'], {});
    assert.equal(code, 0);
    for (const flag of ['--queues', '--concurrency', '--metrics-port']) assert.ok(stdout.includes(flag), flag);
  });

  it('a broker refusing the password fails fast with a clear message, without the password', async () => {
    const { code, stdout } = await exits(WORKER_MAIN, ['--metrics-port', '0'], {
      AMQP_URL: 'amqp://guest:s3cret-wrong@127.0.0.1:5672',
      DATABASE_URL: TEST_DATABASE_URL,
    });
    assert.equal(code, 1);
    assert.match(stdout, /RabbitMQ refused the connection/);
    assert.ok(!stdout.includes('s3cret-wrong'), 'the password is never logged');
  });

  it('migrate applies the migrations, and running it again (even concurrently) is safe', async () => {
    const schema = `t_cli_${randomBytes(4).toString('hex')}`;
    const env = { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema };
    try {
      const results = await Promise.all([exits(WORKER_MAIN, ['migrate'], env), exits(WORKER_MAIN, ['migrate'], env)]);
      assert.deepEqual(results.map((r) => r.code), [0, 0]);
      const again = await exits(WORKER_MAIN, ['migrate'], env);
      assert.equal(again.code, 0);
      assert.match(again.stdout, new RegExp(`up to date \\(version ${MIGRATIONS.length}\\)`));
    } finally {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  });
});
