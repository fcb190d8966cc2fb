/**
 * `celerity inspect …` and `celerity control …` against running workers, over Celery's remote
 * control. Every call names the test's own worker (`--destination`): other tests share the broker.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { CELERITY_CLI } from '../helpers/demo.js';
import { TEST_AMQP_URL, TestContext, waitFor } from '../helpers/harness.js';

const run = promisify(execFile);

async function celerity(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CELERITY_CLI, ...args], { env: { ...process.env, AMQP_URL: TEST_AMQP_URL }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('celerity inspect and celerity control', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('inspect answers as JSON and as Celery prints it', async () => {
    const queue = ctx.queue('cliinspect');
    const name = `celerity-${ctx.suffix}@cli`;
    await ctx.startWorker({ queues: [queue], name });

    const ping = await celerity(['inspect', 'ping', '--destination', name, '--timeout', '10', '--json']);
    assert.equal(ping.code, 0, ping.stderr);
    assert.deepEqual(JSON.parse(ping.stdout), { [name]: { ok: 'pong' } });

    const registered = await celerity(['inspect', 'registered', '-d', name, '-t', '10']);
    assert.equal(registered.code, 0, registered.stderr);
    assert.match(registered.stdout, new RegExp(`^->  ${name.replace(/[.@]/g, '\\$&')}: OK\n`));
    assert.match(registered.stdout, /^ {4}\* demo\.add$/m);
    assert.match(registered.stdout, /1 node online\.\n$/);

    const queues = await celerity(['inspect', 'active_queues', '-d', name, '-t', '10', '--json']);
    assert.deepEqual((JSON.parse(queues.stdout) as Record<string, { name: string }[]>)[name]?.map((q) => q.name), [queue]);
  });

  it('control add_consumer and cancel_consumer bind and unbind a running worker', async () => {
    const queue = ctx.queue('clihome');
    const added = ctx.queue('cliadded');
    const name = `celerity-${ctx.suffix}@cli`;
    const worker = await ctx.startWorker({ queues: [queue], name });

    const add = await celerity(['control', 'add_consumer', added, '-d', name, '-t', '10']);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, new RegExp(`add consumer ${added.replace(/\./g, '\\.')}`));
    assert.equal((await ctx.queueDepth(added)).consumers, 1);
    assert.equal(worker.consuming, true);

    const cancel = await celerity(['control', 'cancel_consumer', added, '-d', name, '-t', '10', '--json']);
    assert.deepEqual(JSON.parse(cancel.stdout), { [name]: { ok: `no longer consuming from ${added}` } });
    await waitFor('the consumer to be gone', async () => (await ctx.queueDepth(added)).consumers === 0);

    const refused = await celerity(['control', 'cancel_consumer', added, '-d', name, '-t', '10']);
    assert.equal(refused.code, 1, 'an error reply fails the command');
    assert.match(refused.stdout, /ERROR\n {8}error: not consuming from/);
  });

  it('a worker that is gone: the command ends at its timeout and says so; bad flags exit 2', async () => {
    const gone = `celerity-gone-${ctx.suffix}@nowhere`;
    const ping = await celerity(['inspect', 'ping', '-d', gone, '-t', '1']);
    assert.equal(ping.code, 6);
    assert.match(ping.stderr, new RegExp(`no reply from ${gone.replace(/[.@-]/g, '\\$&')} to ping within 1s`));
    const shutdown = await celerity(['control', 'shutdown', '-d', gone, '-t', '0.5']);
    assert.equal(shutdown.code, 6);
    const badTimeout = await celerity(['inspect', 'ping', '--timeout', 'soon']);
    assert.equal(badTimeout.code, 2);
    assert.match(badTimeout.stderr, /--timeout must be a number of seconds/);
    const badQueue = await celerity(['control', 'add_consumer', 'amq.nope', '-d', gone]);
    assert.equal(badQueue.code, 2);
    assert.match(badQueue.stderr, /invalid queue name "amq\.nope"/);
  });

  it('control shutdown stops a worker process as SIGTERM does: it drains and exits 0', async () => {
    const queue = ctx.queue('clishutdown');
    const worker = await ctx.spawnWorker([queue]);
    const name = `celerity@${hostname()}:${worker.child.pid}`;
    const shutdown = await celerity(['control', 'shutdown', '-d', name, '-t', '10']);
    assert.equal(shutdown.code, 0, shutdown.stderr);
    assert.match(shutdown.stdout, /shutting down/);
    const exit = await worker.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.match(worker.output(), /remote shutdown requested/);
    assert.match(worker.output(), /worker stopped/);
  });
});
