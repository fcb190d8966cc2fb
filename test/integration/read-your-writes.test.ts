/**
 * Read-your-writes while a worker's final commit trails its reply: the worker replies once the
 * task's STARTED row is committed and commits the outcome just after, so a `?wait=` (or
 * `result()`) answer can come before the store has the final state (never before it has a row). A trigger in the test's schema holds the commit (on an
 * advisory lock the test keeps) while the answer comes; reads on the process that got the reply
 * show the final state, the row in PostgreSQL is still earlier, and the store converges once the
 * commit is let through.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { createClient, defineTask } from '../../shared/src/index.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, captureLogger, http, waitFor, type Task } from '../helpers/harness.js';

/**
 * Holds the task writes `which` selects, in this test's schema, until `release()`: each such write
 * waits in a trigger for an advisory lock the test holds (reads are not held).
 */
async function holdWrites(ctx: TestContext, which: 'final' | 'all'): Promise<{ release: () => Promise<void>; waiting: () => Promise<number> }> {
  const key = randomInt(1, 2 ** 31 - 1);
  const holder = await ctx.pool.connect();
  await holder.query('SELECT pg_advisory_lock($1)', [key]);
  await ctx.pool.query(`CREATE FUNCTION hold_task_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock_shared(${key}); RETURN NEW; END $$`);
  const when = which === 'final' ? `WHEN (NEW.state IN ('SUCCESS', 'FAILURE', 'REVOKED'))` : '';
  await ctx.pool.query(`CREATE TRIGGER hold_task_write BEFORE INSERT OR UPDATE ON tasks FOR EACH ROW ${when} EXECUTE FUNCTION hold_task_write()`);
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    await holder.query('SELECT pg_advisory_unlock($1)', [key]);
    holder.release();
  };
  // Before the gateways and workers stop: they flush the held writes on the way out.
  ctx.defer(release);
  // Writes waiting on the hold (a key under 2^31 is the lock's objid).
  const waiting = async (): Promise<number> =>
    (await ctx.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`, [key])).rows[0]?.n ?? 0;
  return { release, waiting };
}

/** The task's row in PostgreSQL, read past every process's cache. */
async function rowState(ctx: TestContext, id: string): Promise<string | undefined> {
  const { rows } = await ctx.pool.query<{ state: string }>('SELECT state FROM tasks WHERE id = $1', [id]);
  return rows[0]?.state;
}

describe('read-your-writes while the final commit trails the reply', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('after a ?wait= 200, GET on the same gateway shows the final state while the row in PostgreSQL is still earlier; another gateway may not', async () => {
    const queue = ctx.queue('ryw');
    const { url } = await ctx.startGateway();
    const { url: other } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const held = await holdWrites(ctx, 'final');
    // Runs long enough for its STARTED row to be committed on its own (a shorter task's may be
    // merged into the final write, and the reply then waits for that commit).
    const answered = await http<Task>(`${url}/api/v1/tasks/demo.sleep?wait=20`, { json: { args: [0.5], options: { queue } } });
    assert.equal(answered.status, 200, 'answered from the reply while the commit is held');
    assert.deepEqual([answered.body.state, answered.body.result], ['SUCCESS', 0.5]);
    const id = answered.body.id;
    const before = await rowState(ctx, id);
    assert.equal(before, 'STARTED', 'the reply waited for the STARTED row, not for the final one');
    const read = await http<Task>(`${url}/api/v1/tasks/${id}`);
    assert.equal(read.status, 200);
    assert.deepEqual([read.body.state, read.body.result, read.body.worker], ['SUCCESS', 0.5, answered.body.worker]);
    assert.deepEqual(read.body.args, [0.5]);
    const longPoll = await http<Task>(`${url}/api/v1/tasks/${id}?wait=5`);
    assert.deepEqual([longPoll.status, longPoll.body.state], [200, 'SUCCESS']);
    // The documented limit: only the process that got the reply is ahead of the store.
    const elsewhere = await http<Task>(`${other}/api/v1/tasks/${id}`);
    assert.notEqual(elsewhere.body.state, 'SUCCESS', 'another gateway reads the store as it is');
    assert.ok((await rowState(ctx, id)) !== 'SUCCESS', 'still held');
    await held.release();
    const stored = await ctx.finalRow(id);
    assert.deepEqual([stored.state, stored.result], ['SUCCESS', 0.5], 'the store converges');
    assert.equal((await http<Task>(`${url}/api/v1/tasks/${id}`)).body.state, 'SUCCESS');
    assert.equal((await http<Task>(`${other}/api/v1/tasks/${id}`)).body.state, 'SUCCESS');
  });

  it('with every write held, ?wait= is not answered until the task has a row; then the answering gateway shows it as it finished', async () => {
    const queue = ctx.queue('norow');
    const { url } = await ctx.startGateway();
    const { logger, capture } = captureLogger('worker');
    await ctx.startWorker({ queues: [queue], logger });
    const held = await holdWrites(ctx, 'all');
    let settled = false;
    const answering = http<Task>(`${url}/api/v1/tasks/demo.fail?wait=20`, { json: { args: ['nope'], options: { queue } } }).finally(() => (settled = true));
    // The task has failed (logged before its final write) and its writes wait on the hold.
    await waitFor('the task to end with its writes held', async () => capture.entries.some((e) => e.message === 'task failed') && (await held.waiting()) > 0);
    assert.equal(settled, false, 'no answer for a task no store has');
    await held.release();
    const answered = await answering;
    assert.deepEqual([answered.status, answered.body.state], [200, 'FAILURE']);
    const read = await http<Task>(`${url}/api/v1/tasks/${answered.body.id}`);
    assert.equal(read.status, 200);
    assert.deepEqual([read.body.state, read.body.error], ['FAILURE', answered.body.error]);
    const stored = await ctx.finalRow(answered.body.id);
    assert.deepEqual([stored.state, stored.error?.message], ['FAILURE', 'nope']);
  });

  it('the Node client: after result() resolved, get(id).state() and info() show the final state while the row is still earlier', async () => {
    const queue = ctx.queue('rywclient');
    await ctx.startWorker({ queues: [queue] });
    // Runs long enough for its STARTED row to land on its own: the reply waits for that row.
    const nap = defineTask({ name: 'demo.sleep', queue, args: z.tuple([z.number()]), run: ([s]) => s });
    const client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, tasks: [nap], logger: ctx.logger, env: {} });
    ctx.defer(() => client.close());
    const held = await holdWrites(ctx, 'final');
    const handle = await client.submit(nap, [0.5]);
    assert.equal(await handle.result({ timeoutMs: 20_000 }), 0.5);
    assert.ok((await rowState(ctx, handle.id)) !== 'SUCCESS', 'the commit is still held');
    const again = client.get(handle.id);
    assert.equal(await again.state(), 'SUCCESS');
    const info = await again.info();
    assert.deepEqual([info?.state, info?.result, info?.args], ['SUCCESS', 0.5, [0.5]]);
    await held.release();
    assert.equal((await ctx.finalRow(handle.id)).result, 0.5, 'the store converges');
    assert.equal(await client.get(handle.id).state(), 'SUCCESS');
  });
});
