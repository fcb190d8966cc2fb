/**
 * A delivery runs only on the channel it came from (quorum queues, two worker processes):
 * worker A (`-c 1`, queues qa and qb) runs a long task from qa and holds a qb task in its slot
 * gate; A's connection is closed from the broker side (`rabbitmqctl close_connection`); worker
 * B takes the qb task and commits it. When A's long task ends, A must not run its stale copy.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseQueueTypes } from '../../shared/src/config/parse.js';
import { TestContext, http, waitFor, type Task, type WorkerProcess } from '../helpers/harness.js';

const run = promisify(execFile);

/** Closes the AMQP connection of worker process `pid` from the broker side, as an operator would. */
async function closeConnectionOf(pid: number): Promise<void> {
  // The worker's one connection: its local port, from the socket table of its process.
  const { stdout } = await run('ss', ['-tnpH', 'dst', '127.0.0.1:5672']);
  const line = stdout.split('\n').find((l) => l.includes(`pid=${pid},`));
  const port = line ? /127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:5672/.exec(line)?.[1] : undefined;
  assert.ok(port, `the broker connection of process ${pid}:\n${stdout}`);
  const listed = await run('rabbitmqctl', ['list_connections', 'pid', 'peer_port', '-q']);
  const connection = listed.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find(([, peerPort]) => peerPort === port)?.[0];
  assert.ok(connection, `the broker's connection from port ${port}:\n${listed.stdout}`);
  await run('rabbitmqctl', ['close_connection', connection, 'closed by the channel-loss test']);
}

/** Whether a worker process logged that it ran task `id` to an end. */
function ran(worker: WorkerProcess, id: string): boolean {
  return worker
    .output()
    .split('\n')
    .some((line) => line.includes(id) && (line.includes('"task succeeded"') || line.includes('"task failed"')));
}

describe('a delivery runs only on its own channel', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a task held in the slot gate when the connection is lost is not run after another worker committed it', async () => {
    const qa = ctx.queue('gate-a');
    const qb = ctx.queue('gate-b');
    const types = `${qa}=quorum,${qb}=quorum`;
    const { url } = await ctx.startGateway({ config: { queueTypes: parseQueueTypes('QUEUE_TYPES', types) } });
    const a = await ctx.spawnWorker([qa, qb], { QUEUE_TYPES: types, WORKER_CONCURRENCY: '1' });
    // A's one slot: a long task from qa.
    const long = await http<Task>(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [20], options: { queue: qa } } });
    assert.equal(long.status, 202);
    await waitFor('the long task to start on A', async () => (await ctx.store.get(long.body.id))?.state === 'STARTED');
    // A qb task: A takes it (per-consumer prefetch) and holds it in its gate.
    const held = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [2, 3], options: { queue: qb } } });
    assert.equal(held.status, 202);
    await waitFor('A to hold the qb task', async () => (await ctx.queueDepth(qb)).messages === 0);
    const b = await ctx.spawnWorker([qb], { QUEUE_TYPES: types });
    await closeConnectionOf(a.child.pid ?? -1);
    // The broker put the qb task back; B runs and commits it.
    const row = await ctx.finalRow(held.body.id).catch((err: unknown) => {
      throw new Error(`the qb task did not end after the connection loss.\nA:\n${a.output()}\nB:\n${b.output()}`, { cause: err });
    });
    assert.equal(row.state, 'SUCCESS');
    await waitFor('B to log the run of the qb task', () => ran(b, held.body.id));
    assert.notEqual((await ctx.store.get(long.body.id))?.state, 'SUCCESS', 'the long task was still running on A when B committed');
    // A's long task ends; then a marker task on qa. A's gate serves in arrival order, so a stale
    // copy of the qb task still in it would have run before the marker.
    await waitFor('the long task to end on A', async () => (await ctx.store.get(long.body.id))?.state === 'SUCCESS', { timeoutMs: 60_000 });
    const marker = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=60`, { json: { args: [1, 1], options: { queue: qa } } });
    assert.equal(marker.body.state, 'SUCCESS');
    await waitFor('A to log the run of the marker', () => ran(a, marker.body.id));
    assert.equal(ran(a, held.body.id), false, `A ran its stale copy of the qb task:\n${a.output()}`);
  });
});
