/**
 * The ack waits for the final write, end to end: while the database refuses a task's final
 * state, its message stays unacked; when the worker dies, the broker redelivers it and another
 * worker records it. The database's refusal is a trigger in the test's own schema (the shared
 * PostgreSQL is never restarted).
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';

describe('final write', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('the database fails during the final write: the message stays unacked and is redelivered, then recorded once', async () => {
    const queue = ctx.queue('dbfail');
    // 57P03 (cannot_connect_now): what a database that is going away answers; the worker retries it.
    await ctx.pool.query(`CREATE FUNCTION refuse_success() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.state = 'SUCCESS' THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '57P03'; END IF;
        RETURN NEW;
      END $$`);
    await ctx.pool.query('CREATE TRIGGER refuse_success BEFORE INSERT OR UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION refuse_success()');
    const { url } = await ctx.startGateway();
    const first = await ctx.spawnWorker([queue]);
    const submitted = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [20, 22], options: { queue } } });
    assert.equal(submitted.status, 202);
    await waitFor('the worker to retry its final write', () => first.output().includes('could not record the task result; retrying'));
    assert.equal((await ctx.queueDepth(queue)).messages, 0, 'held unacked while the write is retried');
    assert.notEqual((await ctx.store.get(submitted.body.id))?.state, 'SUCCESS');
    first.child.kill('SIGKILL');
    await first.exited;
    // Not acked: the broker puts it back.
    await waitFor('the message to be back on its queue', async () => (await ctx.queueDepth(queue)).messages === 1);
    await ctx.pool.query('DROP TRIGGER refuse_success ON tasks');
    const second = await ctx.startWorker({ queues: [queue] });
    const row = await waitFor('the task to be recorded by the second worker', async () => {
      const t = await ctx.store.get(submitted.body.id);
      return t?.state === 'SUCCESS' ? t : undefined;
    }, { timeoutMs: 45_000 });
    assert.deepEqual([row.result, row.worker], [42, second.name]);
    await waitFor('the redelivered message to be acked', async () => (await ctx.queueDepth(queue)).messages === 0 && second.inFlight === 0);
  });
});
