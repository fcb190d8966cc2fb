/**
 * Revoke, from anywhere, against the real broker and database: a queued task revoked over HTTP
 * never runs on a worker started after the revoke, nor on one that was disconnected when it
 * happened; `terminate` stops an in-process and a CPU task (REVOKED, acked, not redelivered);
 * a finished task is unchanged; unknown ids and other keys' tasks are 404; the Node client's
 * `h.revoke()` and the worker's own `revoke()` record it too.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { createClient, TaskFailedError } from '../../shared/src/client/index.js';
import type { Worker } from '../../worker/src/worker.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitFor, type Task } from '../helpers/harness.js';
import { CELERITY_CLI } from '../helpers/demo.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { RevocationStore } from '../../shared/src/store/revocations.js';
import { RetentionSweeper } from '../../worker/src/retention.js';

const run = promisify(execFile);

/** celerity_worker_tasks_total{outcome="revoked"} of one worker, over every task and queue. */
async function revokedCount(worker: Worker): Promise<number> {
  const metric = await worker.metrics.tasks.get();
  return metric.values.filter((v) => v.labels.outcome === 'revoked').reduce((sum, v) => sum + v.value, 0);
}

/** Closes the AMQP connection of process `pid` from the broker side (as channel-loss.test.ts does). */
async function closeConnectionOf(pid: number): Promise<void> {
  const { stdout } = await run('ss', ['-tnpH', 'dst', '127.0.0.1:5672']);
  const ports = stdout.split('\n').filter((l) => l.includes(`pid=${pid},`)).map((l) => /127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:5672/.exec(l)?.[1]);
  assert.ok(ports.length > 0, `the broker connections of process ${pid}:\n${stdout}`);
  const listed = await run('rabbitmqctl', ['list_connections', 'pid', 'peer_port', '-q']);
  for (const port of ports) {
    const connection = listed.stdout.split('\n').map((l) => l.trim().split(/\s+/)).find(([, peerPort]) => peerPort === port)?.[0];
    if (connection) await run('rabbitmqctl', ['close_connection', connection, 'closed by the revoke test']);
  }
}

describe('revoke', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a queued task revoked before any worker runs never runs on a worker started afterwards: REVOKED, acked', async () => {
    const queue = ctx.queue('queued');
    const gw = await ctx.startGateway();
    const submitted = await http<Task>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue } } });
    assert.equal(submitted.status, 202);
    const id = submitted.body.id;
    const revoked = await http<Task>(`${gw.url}/api/v1/tasks/${id}/revoke`, { json: {} });
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.state, 'REVOKED');
    assert.equal(revoked.body.error?.type, 'TaskRevokedError');
    const recorded = await ctx.pool.query<{ terminate: boolean }>('SELECT terminate FROM revocations WHERE task_id = $1', [id]);
    assert.deepEqual(recorded.rows, [{ terminate: false }]);
    // A second revoke is idempotent.
    assert.equal((await http<Task>(`${gw.url}/api/v1/tasks/${id}/revoke`, { json: {} })).body.state, 'REVOKED');

    const worker = await ctx.startWorker({ queues: [queue] });
    await waitFor('the worker to take the revoked task off the queue', async () => (await revokedCount(worker)) === 1);
    await waitFor('the queue to be empty', async () => (await ctx.queueDepth(queue)).messages === 0 && worker.inFlight === 0);
    const row = await ctx.store.get(id);
    assert.equal(row?.state, 'REVOKED');
    assert.equal(row?.startedAt ?? null, null, 'it never started');
    assert.equal(row?.attempts ?? 0, 0);
  });

  it('a revoke while the only worker is disconnected still holds when it comes back', async () => {
    const queue = ctx.queue('offline');
    const gw = await ctx.startGateway();
    const worker = await ctx.spawnWorker([queue]);
    const pid = worker.child.pid ?? -1;
    // Frozen, then cut off by the broker: it hears no broadcast, and its revoke queue is gone.
    process.kill(pid, 'SIGSTOP');
    try {
      await closeConnectionOf(pid);
      const submitted = await http<Task>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [2, 2], options: { queue } } });
      const id = submitted.body.id;
      const revoked = await http<Task>(`${gw.url}/api/v1/tasks/${id}/revoke`, { json: { terminate: false } });
      assert.equal(revoked.status, 200);
      assert.equal(revoked.body.state, 'REVOKED');
      process.kill(pid, 'SIGCONT');
      await waitFor('the worker to reconnect and take the task', () => {
        if (worker.child.exitCode !== null || worker.child.signalCode !== null) throw new Error(`the worker exited (${worker.child.exitCode ?? worker.child.signalCode}):\n${worker.output().slice(-4000)}`);
        return worker.output().includes('task revoked before it started') && worker.output().includes(id);
      }, { timeoutMs: 60_000 });
      assert.equal((await ctx.queueDepth(queue)).messages, 0);
      assert.ok(!worker.output().includes('"task succeeded"'), 'the revoked task never ran');
      assert.equal((await ctx.store.get(id))?.state, 'REVOKED');
    } finally {
      // Still running unless the test failed on its exit (that error is the one to see).
      if (worker.child.exitCode === null && worker.child.signalCode === null) process.kill(pid, 'SIGCONT');
    }
  });

  it('a task revoked before it has a row (a Celery client\'s) never runs either: the worker records REVOKED', async () => {
    const queue = ctx.queue('norow');
    const worker = await ctx.startWorker({ queues: [queue] });
    const id = randomUUID();
    const outcome = await worker.revoke([id], { reason: 'not wanted' });
    assert.equal(outcome.results[0]?.task, undefined, 'no row yet');
    assert.equal(outcome.results[0]?.created, true);
    // Published afterwards with that id, as a Python client picks its own ids.
    const encoded = encodeTaskMessage(newTaskMessage({ id, name: 'demo.add', args: [1, 1], kwargs: {} }));
    await ctx.publishRaw(queue, encoded.content, encoded.options);
    await waitFor('the worker to record the revoked task', async () => (await ctx.store.get(id))?.state === 'REVOKED');
    const row = await ctx.store.get(id);
    assert.equal(row?.startedAt ?? null, null);
    assert.equal(row?.error?.type, 'TaskRevokedError');
    assert.equal(await revokedCount(worker), 1);
  });

  it('the Node client revokes through its handle; result() then rejects as REVOKED', async () => {
    const queue = ctx.queue('client');
    const client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema });
    ctx.defer(() => client.close());
    const h = await client.submit('demo.add', [3, 4], {}, { queue });
    const revoked = await h.revoke();
    assert.equal(revoked.state, 'REVOKED');
    await ctx.startWorker({ queues: [queue] });
    await assert.rejects(h.result({ timeoutMs: 10_000 }), (err: unknown) => err instanceof TaskFailedError && err.state === 'REVOKED');
    await assert.rejects(client.get(randomUUID()).revoke(), /No task with id/);
  });

  it('celerity control revoke and terminate work with no worker running, and reach a running one', async () => {
    const queue = ctx.queue('cli');
    const gw = await ctx.startGateway();
    const env = { ...process.env, AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: ctx.schema };
    const cli = (args: string[]): Promise<{ stdout: string }> => run(process.execPath, [CELERITY_CLI, 'control', ...args], { env, timeout: 30_000 });
    const queued = (await http<Task>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [5, 5], options: { queue } } })).body.id;
    await waitFor('the PENDING row', async () => (await ctx.store.get(queued)) !== undefined);
    const unknown = randomUUID();
    const { stdout } = await cli(['revoke', queued, unknown, '--reason', 'changed my mind']);
    assert.match(stdout, new RegExp(`${queued}  REVOKED`));
    assert.match(stdout, new RegExp(`${unknown}  revoked: no such task yet`));
    const row = await ctx.store.get(queued);
    assert.equal(row?.state, 'REVOKED');
    assert.equal(row?.error?.message, 'changed my mind');
    const who = await ctx.pool.query<{ revoked_by: string }>('SELECT revoked_by FROM revocations WHERE task_id = $1', [queued]);
    assert.equal(who.rows[0]?.revoked_by, 'cli');

    const worker = await ctx.startWorker({ queues: [queue] });
    await waitFor('the worker to drop the revoked task', async () => (await revokedCount(worker)) === 1);
    const running = (await http<Task>(`${gw.url}/api/v1/tasks/demo.sleep`, { json: { args: [600], options: { queue } } })).body.id;
    await waitFor('the task to start', async () => (await ctx.store.get(running))?.state === 'STARTED');
    const terminated = JSON.parse((await cli(['terminate', running, '--json'])).stdout) as { broadcast: boolean; tasks: { id: string; terminate: boolean }[] };
    assert.equal(terminated.broadcast, true);
    assert.deepEqual(terminated.tasks.map((t) => [t.id, t.terminate]), [[running, true]]);
    assert.equal((await ctx.finalRow(running)).state, 'REVOKED');
    await waitFor('the delivery to be acked', () => worker.inFlight === 0);
    await assert.rejects(cli(['revoke', 'has space']), (err: { code?: number }) => err.code === 2);
  });

  it('the retention sweep deletes old revocations of final tasks only, never one whose task has no row', async () => {
    const store = new RevocationStore(ctx.pool);
    const [finished, rowless, recent] = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of [finished, recent]) await ctx.store.record({ id, name: 'demo.add', queue: 'q', state: 'PENDING', args: [], kwargs: {} });
    await store.revoke([finished, rowless, recent]);
    await ctx.pool.query(`UPDATE revocations SET revoked_at = now() - interval '40 days' WHERE task_id = ANY($1)`, [[finished, rowless]]);
    await new RetentionSweeper(ctx.store, 7 * 24 * 3_600_000, createSilentLogger(), undefined, store).sweep();
    const left = await ctx.pool.query<{ task_id: string }>('SELECT task_id FROM revocations ORDER BY task_id');
    assert.deepEqual(left.rows.map((r) => r.task_id).sort(), [rowless, recent].sort());
  });
});
