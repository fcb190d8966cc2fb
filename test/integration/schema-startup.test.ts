/**
 * The schema at start-up and under a running worker (issue 21, item 4): an unmigrated schema is
 * migrated before the worker consumes, once however many start together; `--no-migrate` refuses
 * with exit 4 naming `celerity migrate`; a newer schema is refused naming both versions; and a
 * schema dropped under a running worker makes /readyz 503 and never loses the outcome (the
 * message is kept until the store takes it).
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { LATEST_SCHEMA_VERSION, migrate } from '../../shared/src/store/migrate.js';
import { MIGRATIONS } from '../../shared/src/store/migrations.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { CELERITY_CLI, DEMO_APP } from '../helpers/demo.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, captureLogger, waitFor } from '../helpers/harness.js';

const run = promisify(execFile);

async function exits(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [CELERITY_CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

async function sql(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

describe('the schema at start-up', () => {
  let ctx: TestContext;
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    ctx = await TestContext.create();
    // Each test starts from a schema that was never migrated.
    await sql(`DROP SCHEMA "${ctx.schema}" CASCADE`);
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    }
    await ctx.cleanup();
  });

  function env(extra: Record<string, string> = {}): Record<string, string> {
    return { AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: ctx.schema, LOG_LEVEL: 'info', ...extra };
  }

  it('three workers starting together on an unmigrated schema migrate it once, and all consume', async () => {
    const queue = ctx.queue('migrate3');
    const outputs = Array.from({ length: 3 }, () => {
      const child = spawn(process.execPath, [CELERITY_CLI, 'worker', '--app', DEMO_APP, '-Q', queue, '--metrics-port', '0'], { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      return { child, output: () => output };
    });
    await waitFor('the three workers to consume', () => {
      for (const o of outputs) if (o.child.exitCode !== null) throw new Error(`a worker exited:\n${o.output()}`);
      return outputs.every((o) => / consuming .+ with concurrency/.test(o.output()));
    }, { timeoutMs: 60_000 });
    const migrated = outputs.filter((o) => o.output().includes(`migrated schema ${ctx.schema} from version 0 to ${LATEST_SCHEMA_VERSION}`));
    assert.equal(migrated.length, 1, 'exactly one of them applied the migrations');
    const { rows } = await sql(`SELECT count(*)::int AS n FROM "${ctx.schema}".schema_migrations`);
    // One row per migration (ids may have gaps while branches are merged: count them, not the latest id).
    assert.equal(rows[0].n, MIGRATIONS.length);
  });

  it('--no-migrate and AUTO_MIGRATE=false refuse an unmigrated schema: exit 4, naming celerity migrate; the gateway too', async () => {
    for (const [args, extra] of [
      [['worker', '--app', DEMO_APP, '--no-migrate', '--metrics-port', '0'], {}],
      [['worker', '--app', DEMO_APP, '--metrics-port', '0'], { AUTO_MIGRATE: 'false' }],
      [['gateway', '--app', DEMO_APP, '--no-migrate', '--port', '0'], {}],
    ] as const) {
      const { code, stderr } = await exits([...args], env(extra));
      assert.equal(code, 4, stderr);
      const lines = stderr.trimEnd().split('\n');
      assert.ok(lines.length <= 2 && lines.every((l) => l.startsWith('celerity: ')), stderr);
      assert.match(stderr, /celerity migrate/);
      assert.match(stderr, new RegExp(`schema "${ctx.schema}" is at version 0, this celerity needs ${LATEST_SCHEMA_VERSION}`));
    }
    // Nothing was created behind the refusal.
    const { rows } = await sql(`SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = '${ctx.schema}'`);
    assert.equal(rows[0].n, 0);
  });

  it('a schema newer than the code is refused, naming both versions, even by celerity migrate', async () => {
    await migrate(ctx.pool, ctx.schema, ctx.logger);
    const newer = LATEST_SCHEMA_VERSION + 1;
    await sql(`INSERT INTO "${ctx.schema}".schema_migrations (id, name) VALUES (${newer}, 'from the future')`);
    for (const args of [['worker', '--app', DEMO_APP, '--metrics-port', '0'], ['migrate']]) {
      const { code, stderr } = await exits(args, env());
      assert.equal(code, 4, stderr);
      assert.match(stderr, new RegExp(`at version ${newer}, newer than this celerity's ${LATEST_SCHEMA_VERSION}`));
    }
  });
});

describe('a schema dropped under a running worker', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('keeps the message until the store takes the outcome (never acked unrecorded), and /readyz is 503 meanwhile', async () => {
    const queue = ctx.queue('dropped');
    const { logger, capture } = captureLogger('worker');
    const worker = await ctx.startWorker({ queues: [queue], metrics: true, logger });
    const readyz = `http://127.0.0.1:${worker.metricsPort}/readyz`;
    assert.equal((await fetch(readyz)).status, 200);

    await sql(`DROP SCHEMA "${ctx.schema}" CASCADE`);
    await waitFor('/readyz to say 503', async () => (await fetch(readyz)).status === 503);
    const id = randomUUID();
    const message = encodeTaskMessage(newTaskMessage({ id, name: 'demo.add', args: [20, 22], kwargs: {} }));
    await ctx.publishRaw(queue, message.content, message.options);
    // The task cannot claim its run in a store without tables: the worker keeps the message
    // (requeued after a delay, never acked) instead of running it with nowhere to record it.
    await waitFor('the worker to hand the message back', () => capture.entries.some((e) => e.taskId === id && String(e.message).startsWith('task not completed; requeueing')));
    assert.ok(!capture.entries.some((e) => String(e.message).startsWith('the store refused')), 'a missing table is not a refused value');
    assert.ok(!capture.entries.some((e) => e.taskId === id && e.message === 'task succeeded'), 'the task did not run without a store');

    // The schema comes back (an operator ran celerity migrate): the held outcome lands.
    await migrate(ctx.pool, ctx.schema, ctx.logger);
    const done = await ctx.finalRow(id);
    assert.deepEqual([done.state, done.result], ['SUCCESS', 42]);
    await waitFor('/readyz to say 200 again', async () => (await fetch(readyz)).status === 200);
  });
});
