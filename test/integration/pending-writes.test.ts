/**
 * Which state rows a submit writes (issue 14, "fewer, larger writes"). A `?wait=` submit whose
 * final reply comes within its wait writes no PENDING row: the worker writes the whole row, and
 * its `created_at` is still the publish time; the worker's claim writes STARTED before the task
 * runs. A wait that ends without the task's end writes
 * PENDING before its 202, so a GET finds the task. A plain submit writes PENDING before its 202.
 * A trigger on the test's own `tasks` table records every state each row is written with.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestContext, http, waitForState, type Task } from '../helpers/harness.js';

describe('state writes of a submit', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await TestContext.create();
    await ctx.pool.query(`
      CREATE TABLE state_writes (id text NOT NULL, state text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE FUNCTION note_state_write() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO state_writes (id, state) VALUES (NEW.id, NEW.state); RETURN NEW; END $$;
      CREATE TRIGGER note_state_write AFTER INSERT OR UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION note_state_write();`);
  });
  after(async () => {
    await ctx.cleanup();
  });

  const statesOf = async (id: string): Promise<string[]> =>
    (await ctx.pool.query<{ state: string }>('SELECT state FROM state_writes WHERE id = $1 ORDER BY at', [id])).rows.map((r) => r.state);

  it('a ?wait= answered from the final reply writes the claim and the end, STARTED then SUCCESS: no PENDING; created_at is the publish time', async () => {
    const queue = ctx.queue('waited');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const before = Date.now();
    const answer = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [20, 22], options: { queue } } });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.result, 42);
    // The worker replies before it commits: wait for its row in PostgreSQL, not for a GET.
    const stored = await ctx.finalRow(answer.body.id);
    assert.equal(stored.state, 'SUCCESS');
    // No PENDING from the gateway; the worker's claim (STARTED, committed before the task runs,
    // so never merged away) and its final write.
    assert.deepEqual(await statesOf(answer.body.id), ['STARTED', 'SUCCESS'], 'two row writes for the whole round trip');
    const createdAt = stored.createdAt.getTime();
    assert.ok(createdAt >= before - 1_000 && createdAt <= (stored.startedAt?.getTime() ?? 0), 'created_at is the publish time, before the start');
  });

  it('a ?wait= that ends without the end writes PENDING before its 202, and the worker moves it on', async () => {
    const queue = ctx.queue('timedout');
    const { url } = await ctx.startGateway();
    const answer = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=0.3`, { json: { args: [1, 2], options: { queue } } });
    assert.equal(answer.status, 202);
    assert.equal(answer.body.state, 'PENDING');
    const read = await http<Task>(`${url}/api/v1/tasks/${answer.body.id}`);
    assert.equal(read.status, 200, 'GET right after the 202 finds the task');
    assert.equal(read.body.state, 'PENDING');
    await ctx.startWorker({ queues: [queue] });
    const done = await waitForState(url, answer.body.id, ['SUCCESS']);
    assert.equal(done.result, 3);
    assert.deepEqual((await statesOf(answer.body.id))[0], 'PENDING');
  });

  it('a plain submit writes PENDING before its 202', async () => {
    const queue = ctx.queue('plain');
    const { url } = await ctx.startGateway();
    const answer = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue } } });
    assert.equal(answer.status, 202);
    assert.deepEqual(await statesOf(answer.body.id), ['PENDING']);
  });
});
