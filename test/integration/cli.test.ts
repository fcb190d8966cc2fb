/** The entry points: invalid configuration stops the process with a message naming the variable. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { CELERITY_CLI, DEMO_APP } from '../helpers/demo.js';
import { TEST_DATABASE_URL } from '../helpers/env.js';
import { MIGRATIONS } from '../../shared/src/store/migrations.js';

const run = promisify(execFile);
const GATEWAY = ['gateway', '--app', DEMO_APP];
const WORKER = ['worker', '--app', DEMO_APP];

async function exits(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string; stdout: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CELERITY_CLI, ...args], { env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string; stdout: string };
    return { code: e.code, stderr: e.stderr, stdout: e.stdout };
  }
}

/** The worker migrates its schema before it connects to the broker: tests that start one drop it after. */
async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}

describe('command line', () => {
  const invalid: { name: string; args: string[]; env: Record<string, string>; names: RegExp }[] = [
    { name: 'GATEWAY_PORT', args: GATEWAY, env: { GATEWAY_PORT: 'eighty' }, names: /GATEWAY_PORT/ },
    { name: 'AMQP_URL', args: GATEWAY, env: { AMQP_URL: 'http://localhost' }, names: /AMQP_URL must be an amqp:\/\/ or amqps:\/\/ URL/ },
    { name: 'GATEWAY_MAX_BODY', args: GATEWAY, env: { GATEWAY_MAX_BODY: 'lots' }, names: /GATEWAY_MAX_BODY/ },
    { name: 'GATEWAY_HOST without auth', args: GATEWAY, env: { GATEWAY_HOST: '0.0.0.0' }, names: /GATEWAY_HOST.*AUTH_DISABLED=true/ },
    { name: 'LOG_LEVEL', args: GATEWAY, env: { LOG_LEVEL: 'loud' }, names: /LOG_LEVEL/ },
    { name: '--concurrency', args: [...WORKER, '--concurrency', '0'], env: {}, names: /--concurrency/ },
    { name: 'WORKER_CONCURRENCY', args: WORKER, env: { WORKER_CONCURRENCY: 'many' }, names: /WORKER_CONCURRENCY/ },
    { name: '--queues', args: [...WORKER, '--queues', 'ok,amq.bad'], env: {}, names: /--queues.*amq\.bad/ },
    { name: 'DATABASE_URL', args: ['migrate'], env: { DATABASE_URL: 'mysql://x' }, names: /DATABASE_URL/ },
  ];
  for (const c of invalid) {
    it(`an invalid ${c.name} stops the process with a message naming it`, async () => {
      const { code, stderr } = await exits(c.args, c.env);
      assert.equal(code, 2);
      assert.match(stderr, c.names);
    });
  }

  it('worker --help lists the flags', async () => {
    const { code, stdout } = await exits(['worker', '--help'], {});
    assert.equal(code, 0);
    for (const flag of ['--queues', '--concurrency', '--metrics-port']) assert.ok(stdout.includes(flag), flag);
  });

  it('every command has --help', async () => {
    const commands = [['worker'], ['beat'], ['gateway'], ['migrate'], ['call'], ['result'], ['status'], ['purge'], ['topology'], ['keys'], ['keys', 'create'], ['dead-letters'], ['dead-letters', 'list'], ['inspect'], ['inspect', 'ping'], ['inspect', 'active_queues'], ['control'], ['control', 'add_consumer'], ['control', 'cancel_consumer'], ['control', 'pool_shrink'], ['control', 'shutdown']];
    for (const command of commands) {
      const { code, stdout } = await exits([...command, '--help'], {});
      assert.equal(code, 0, command.join(' '));
      assert.match(stdout, /^Usage: celerity /, command.join(' '));
      // Each --help ends with two or three examples.
      const examples = stdout.slice(stdout.lastIndexOf('Examples:')).split('\n').filter((l) => l.startsWith('  $ '));
      assert.ok(stdout.lastIndexOf('Examples:') > 0 && examples.length >= 2 && examples.length <= 3, `${command.join(' ')}: ${stdout}`);
    }
    const gateway = await exits(['gateway', '--help'], {});
    for (const flag of ['--app', '--port', '--host']) assert.ok(gateway.stdout.includes(flag), flag);
  });

  it('worker and gateway refuse to start without an app module, or with one that does not exist, naming it', async () => {
    for (const command of ['worker', 'gateway']) {
      const none = await exits([command], { CELERITY_APP: '' });
      assert.equal(none.code, 2, command);
      assert.match(none.stderr, /--app <module> or set CELERITY_APP/);
      const missing = await exits([command], { CELERITY_APP: 'no/such/tasks.js' });
      assert.equal(missing.code, 2, command);
      assert.match(missing.stderr, /no\/such\/tasks\.js: no such app module/);
    }
  });

  it('a broker refusing the password fails fast with a clear message, without the password', async () => {
    const schema = `t_cli_${randomBytes(4).toString('hex')}`;
    const { code, stdout, stderr } = await exits([...WORKER, '--metrics-port', '0'], {
      AMQP_URL: 'amqp://guest:s3cret-wrong@127.0.0.1:5672',
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: schema,
    }).finally(() => dropSchema(schema));
    assert.equal(code, 3);
    assert.match(stderr, /^celerity: RabbitMQ refused the connection to amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672/);
    assert.match(stderr, /\ncelerity: hint: check the user, password, vhost and permissions in AMQP_URL/);
    assert.ok(!stdout.includes('s3cret-wrong') && !stderr.includes('s3cret-wrong'), 'the password is never printed');
  });

  it('migrate applies the migrations, and running it again (even concurrently) is safe', async () => {
    const schema = `t_cli_${randomBytes(4).toString('hex')}`;
    const env = { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema };
    try {
      const results = await Promise.all([exits(['migrate'], env), exits(['migrate'], env)]);
      assert.deepEqual(results.map((r) => r.code), [0, 0]);
      const again = await exits(['migrate'], env);
      assert.equal(again.code, 0);
      assert.match(again.stdout, new RegExp(`up to date \\(version ${Math.max(...MIGRATIONS.map((m) => m.id))}\\)`));
    } finally {
      await dropSchema(schema);
    }
  });
});
