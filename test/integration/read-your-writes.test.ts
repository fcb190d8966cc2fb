/**
 * Read-your-writes while a worker's final commit trails its reply: the worker replies as soon
 * as a task's outcome is known and commits it just after, so a `?wait=` (or `result()`) answer
 * can come before the store has it. A trigger in the test's schema holds the commit (on an
 * advisory lock the test keeps) while the answer comes; reads on the process that got the reply
 * show the final state, the row in PostgreSQL is still earlier, and the store converges once the
 * commit is let through.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { createClient } from '../../shared/src/client/client.js';
import { defineTask } from '../../shared/src/app/define-task.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, type Task } from '../helpers/harness.js';

/**
 * Holds the task writes `which` selects, in this test's schema, until `release()`: each such write
 * waits in a trigger for an advisory lock the test holds (reads are not held).
 */
async function holdWrites(ctx: TestContext, which: 'final' | 'all-but-claims'): Promise<{ release: () => Promise<void> }> {
  const key = randomInt(1, 2 ** 31 - 1);
  const holder = await ctx.pool.connect();
  await holder.query('SELECT pg_advisory_lock($1)', [key]);
  await ctx.pool.query(`CREATE FUNCTION hold_task_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock_shared(${key}); RETURN NEW; END $$`);
  // A worker's claim (STARTED) is never held: the task runs only once it is committed.
  const when = which === 'final' ? `WHEN (NEW.state IN ('SUCCESS', 'FAILURE', 'REVOKED'))` : `WHEN (NEW.state <> 'STARTED')`;
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
  return { release };
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
    const answered = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=20`, { json: { args: [20, 22], options: { queue } } });
    assert.equal(answered.status, 200, 'answered from the reply while the commit is held');
    assert.deepEqual([answered.body.state, answered.body.result], ['SUCCESS', 42]);
    const id = answered.body.id;
    const before = await rowState(ctx, id);
    assert.ok(before === undefined || before === 'PENDING' || before === 'STARTED', `the row is not final yet (${before})`);
    const read = await http<Task>(`${url}/api/v1/tasks/${id}`);
    assert.equal(read.status, 200);
    assert.deepEqual([read.body.state, read.body.result, read.body.worker], ['SUCCESS', 42, answered.body.worker]);
    assert.deepEqual(read.body.args, [20, 22]);
    const longPoll = await http<Task>(`${url}/api/v1/tasks/${id}?wait=5`);
    assert.deepEqual([longPoll.status, longPoll.body.state], [200, 'SUCCESS']);
    // The documented limit: only the process that got the reply is ahead of the store.
    const elsewhere = await http<Task>(`${other}/api/v1/tasks/${id}`);
    assert.notEqual(elsewhere.body.state, 'SUCCESS', 'another gateway reads the store as it is');
    assert.ok((await rowState(ctx, id)) !== 'SUCCESS', 'still held');
    await held.release();
    const stored = await ctx.finalRow(id);
    assert.deepEqual([stored.state, stored.result], ['SUCCESS', 42], 'the store converges');
    assert.equal((await http<Task>(`${url}/api/v1/tasks/${id}`)).body.state, 'SUCCESS');
    assert.equal((await http<Task>(`${other}/api/v1/tasks/${id}`)).body.state, 'SUCCESS');
  });

  it('with only the worker\'s claim in the store (every other write held), GET on the gateway that answered still shows the task as it finished', async () => {
    const queue = ctx.queue('norow');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const held = await holdWrites(ctx, 'all-but-claims');
    const answered = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=20`, { json: { args: ['nope'], options: { queue } } });
    assert.equal(answered.status, 200);
    assert.equal(answered.body.state, 'FAILURE');
    const id = answered.body.id;
    assert.equal(await rowState(ctx, id), 'STARTED', 'only the claim has landed: no PENDING row, no final write');
    const read = await http<Task>(`${url}/api/v1/tasks/${id}`);
    assert.equal(read.status, 200);
    // createdAt aside: the row's is the publish time (the worker's claim takes it from the
    // message header), the answer's the gateway's submission time, a few ms earlier.
    const { createdAt: _readCreated, ...readTask } = read.body;
    const { createdAt: _answerCreated, ...answeredTask } = answered.body;
    assert.deepEqual(readTask, answeredTask, 'the same task as the answer');
    await held.release();
    const stored = await ctx.finalRow(id);
    assert.deepEqual([stored.state, stored.error?.message], ['FAILURE', 'nope']);
  });

  it('the Node client: after result() resolved, get(id).state() and info() show the final state while the row is still earlier', async () => {
    const queue = ctx.queue('rywclient');
    await ctx.startWorker({ queues: [queue] });
    const add = defineTask({ name: 'demo.add', queue, args: z.tuple([z.number(), z.number()]), run: ([a, b]) => a + b });
    const client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, tasks: [add], logger: ctx.logger, env: {} });
    ctx.defer(() => client.close());
    const held = await holdWrites(ctx, 'final');
    const handle = await client.submit(add, [2, 3]);
    assert.equal(await handle.result({ timeoutMs: 20_000 }), 5);
    assert.ok((await rowState(ctx, handle.id)) !== 'SUCCESS', 'the commit is still held');
    const again = client.get(handle.id);
    assert.equal(await again.state(), 'SUCCESS');
    const info = await again.info();
    assert.deepEqual([info?.state, info?.result, info?.args], ['SUCCESS', 5, [2, 3]]);
    await held.release();
    assert.equal((await ctx.finalRow(handle.id)).result, 5, 'the store converges');
    assert.equal(await client.get(handle.id).state(), 'SUCCESS');
  });
});
