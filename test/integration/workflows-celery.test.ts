/**
 * Celery's canvas from real Python Celery (Debian's python3-celery) on Celerity workers: a
 * chain passes results on (protocol v2's `chain` field), a 1,000-task group completes with
 * every result in order over rpc://, and `link` / `link_error` callbacks run.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestContext } from '../helpers/harness.js';
import { runPythonClient, type PythonOutcome } from '../helpers/python-celery.js';

function ok(outcome: PythonOutcome | undefined): Extract<PythonOutcome, { ok: true }> {
  assert.ok(outcome, 'the client printed an outcome');
  assert.equal(outcome.ok, true, `the call succeeded: ${JSON.stringify(outcome).slice(0, 500)}`);
  return outcome;
}

describe('Celery canvas from Python → Celerity workers', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('chain(add.s(1, 2), add.s(3), add.s(10)).apply_async().get() passes each result on: 16', async () => {
    const queue = ctx.queue('pychain');
    await ctx.startWorker({ queues: [queue] });
    const [outcome] = await runPythonClient([
      { canvas: 'chain', queue, steps: [{ task: 'demo.add', args: [1, 2] }, { task: 'demo.add', args: [3] }, { task: 'demo.add', args: [10] }], timeout: 60 },
    ]);
    const done = ok(outcome);
    assert.equal(done.result, 16);
    // The id Python froze for the last step is the task that ran, with the result before it prepended.
    const last = await ctx.finalRow(done.id);
    assert.deepEqual(last.args, [6, 10]);
    assert.equal(last.result, 16);
  });

  it('group(add.s(i, i) for i in range(1000))().get() completes with every result in order', async () => {
    const queue = ctx.queue('pygroup');
    await ctx.startWorker({ queues: [queue], concurrency: 16 });
    const steps = Array.from({ length: 1000 }, (_, i) => ({ task: 'demo.add', args: [i, i] }));
    const [outcome] = await runPythonClient([{ canvas: 'group', queue, steps, timeout: 110 }], 180_000);
    const done = ok(outcome);
    assert.deepEqual(done.result, steps.map((_, i) => 2 * i));
    assert.equal(done.ids?.length, 1000);
    const { rows } = await ctx.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND state = 'SUCCESS'`, [done.ids]);
    assert.equal(rows[0]!.n, 1000, 'every task of the group is recorded');
  });

  it('link gets the result and link_error the failed task’s id, each run once by a Celerity worker', async () => {
    const queue = ctx.queue('pylink');
    await ctx.startWorker({ queues: [queue] });
    const linkId = randomUUID();
    const errbackId = randomUUID();
    const [linked, failing] = await runPythonClient([
      { task: 'demo.add', args: [2, 3], queue, link: { task: 'demo.echo', args: ['linked'], task_id: linkId } },
      { task: 'demo.fail', args: ['broken'], queue, link_error: { task: 'demo.echo', args: ['errback'], task_id: errbackId } },
    ]);
    assert.equal(ok(linked).result, 5);
    assert.equal(failing?.ok, false);
    const callback = await ctx.finalRow(linkId);
    assert.deepEqual(callback.result, { args: [5, 'linked'], kwargs: {} });
    const errback = await ctx.finalRow(errbackId);
    assert.deepEqual(errback.result, { args: [failing?.id, 'errback'], kwargs: {} });
  });
});
