/**
 * Per-key concurrency, fleet-wide (issue 24 items 1 and 2), against the real RabbitMQ and
 * PostgreSQL: tasks of the flow test app (test/fixtures/flow-app.ts) published onto the
 * test's queue as any client would, run by worker processes or in-process workers. What is
 * checked is what the store recorded: states, errors and the startedAt/finishedAt intervals.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { loadApp } from '../../shared/src/app/load-app.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import type { TaskRecord } from '../../shared/src/core/task.js';
import { TestContext, waitFor } from '../helpers/harness.js';

const FLOW_APP = new URL('../fixtures/flow-app.js', import.meta.url).pathname;

interface Submit {
  id?: string;
  name: string;
  customer?: string;
  ms?: number;
  args?: unknown[];
  expires?: string;
}

/** Publishes tasks onto `queue` in order, over one confirmed channel; returns their ids. */
async function publish(ctx: TestContext, queue: string, tasks: readonly Submit[]): Promise<string[]> {
  const ids = tasks.map((task) => task.id ?? randomUUID());
  await ctx.publishMany(
    queue,
    tasks.map((task, i) => {
      const kwargs = task.args ? {} : { customer: task.customer, ms: task.ms ?? 0 };
      return encodeTaskMessage(newTaskMessage({ id: ids[i] ?? randomUUID(), name: task.name, args: task.args ?? [], kwargs, ...(task.expires ? { expires: task.expires } : {}) }));
    }),
  );
  return ids;
}

/** Most intervals [startedAt, finishedAt] open at once (one that ends as another starts does not overlap it). */
function maxOverlap(rows: readonly TaskRecord[]): number {
  const edges = rows.flatMap((r) => [
    { at: r.startedAt!.getTime(), step: 1 },
    { at: r.finishedAt!.getTime(), step: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let open = 0;
  let most = 0;
  for (const edge of edges) most = Math.max(most, (open += edge.step));
  return most;
}

describe('flow control by key: concurrency', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  const finals = (ids: readonly string[]): Promise<TaskRecord[]> => Promise.all(ids.map((id) => ctx.finalRow(id)));
  const spawnThree = async (queue: string): Promise<void> => {
    for (let i = 0; i < 3; i++) await ctx.spawnWorker([queue], { WORKER_CONCURRENCY: '4' }, FLOW_APP);
  };
  const startInProcess = async (queue: string) => {
    const app = await loadApp(FLOW_APP);
    return ctx.startWorker({ queues: [queue], tasks: app.tasks, appUrl: app.url, concurrency: 8 });
  };

  it('property: across three worker processes, the tasks of one key never run more than its limit (× its weight) at once', async () => {
    const queue = ctx.queue('flow-limit');
    await spawnThree(queue);
    const mix = fc.array(fc.record({ customer: fc.constantFrom('a', 'b', 'c'), ms: fc.integer({ min: 20, max: 250 }) }), { minLength: 15, maxLength: 30 });
    await fc.assert(
      fc.asyncProperty(mix, async (tasks) => {
        const ids = await publish(ctx, queue, tasks.map((t) => ({ name: 'flow.test.per-key', ...t })));
        const rows = await finals(ids);
        assert.deepEqual(new Set(rows.map((r) => r.state)), new Set(['SUCCESS']));
        // Limit 2; key c weighs 1.5 (limit 3).
        for (const [customer, limit] of [['a', 2], ['b', 2], ['c', 3]] as const) {
          const ofKey = rows.filter((r) => r.result === customer);
          assert.ok(maxOverlap(ofKey) <= limit, `key ${customer}: ${maxOverlap(ofKey)} ran at once (limit ${limit})`);
        }
      }),
      { numRuns: 3 },
    );
    // A slot is given back just after its task's final row is written.
    await waitFor('every slot given back, nothing left waiting', async () => {
      const { rows } = await ctx.pool.query<{ n: string }>('SELECT (SELECT count(*) FROM flow_slots) + (SELECT count(*) FROM flow_waiting) AS n');
      return rows[0]?.n === '0';
    });
  });

  it('fair turns: 30 tasks of key A submitted before 5 of key B (limit 1 each): every B task finishes before A\'s sixth', async () => {
    const queue = ctx.queue('flow-fair');
    await spawnThree(queue);
    const a = await publish(ctx, queue, Array.from({ length: 30 }, () => ({ name: 'flow.test.fair', customer: 'A', ms: 150 })));
    const b = await publish(ctx, queue, Array.from({ length: 5 }, () => ({ name: 'flow.test.fair', customer: 'B', ms: 150 })));
    const rowsA = await finals(a);
    const rowsB = await finals(b);
    const sixthA = rowsA.map((r) => r.finishedAt!.getTime()).sort((x, y) => x - y)[5]!;
    for (const row of rowsB) assert.ok(row.finishedAt!.getTime() < sixthA, `B task ${row.id} finished after A's sixth`);
    assert.equal(maxOverlap(rowsA), 1);
    assert.equal(maxOverlap(rowsB), 1);
  });

  it('without a key function the limit is for the task type as a whole', async () => {
    const queue = ctx.queue('flow-whole');
    await startInProcess(queue);
    const ids = await publish(ctx, queue, Array.from({ length: 4 }, () => ({ name: 'flow.test.whole', args: [100] })));
    const rows = await finals(ids);
    assert.deepEqual(rows.map((r) => r.state), ['SUCCESS', 'SUCCESS', 'SUCCESS', 'SUCCESS']);
    assert.equal(maxOverlap(rows), 1);
  });

  it('a slot is given back when its run fails or schedules a retry: the key\'s other tasks run, one at a time', async () => {
    const queue = ctx.queue('flow-retry');
    await startInProcess(queue);
    const ids = await publish(ctx, queue, [
      { name: 'flow.test.flaky', customer: 'retry-1', ms: 100 },
      { name: 'flow.test.flaky', customer: 'fail-1', ms: 100 },
      { name: 'flow.test.flaky', customer: 'retry-2', ms: 100 },
      { name: 'flow.test.flaky', customer: 'retry-3', ms: 100 },
    ]);
    const [retried, failed, ...others] = await finals(ids);
    assert.deepEqual([retried!.state, retried!.retries, failed!.state], ['SUCCESS', 1, 'FAILURE']);
    assert.deepEqual(others.map((r) => r.state), ['SUCCESS', 'SUCCESS']);
    assert.equal(maxOverlap([retried!, ...others]), 1);
    await waitFor('every slot given back', async () => (await ctx.pool.query('SELECT 1 FROM flow_slots')).rowCount === 0);
  });

  it('cancel-newest: while a task of the key runs, a newer one of that key ends REVOKED with a reason naming the key; other keys run', async () => {
    const queue = ctx.queue('flow-newest');
    const worker = await startInProcess(queue);
    const [first] = await publish(ctx, queue, [{ name: 'flow.test.cancel-newest', customer: 'k1', ms: 1_500 }]);
    await waitFor('the first task to start', async () => (await ctx.store.get(first!))?.state === 'STARTED');
    const [newer, other] = await publish(ctx, queue, [
      { name: 'flow.test.cancel-newest', customer: 'k1', ms: 0 },
      { name: 'flow.test.cancel-newest', customer: 'k2', ms: 0 },
    ]);
    const [ran, dropped, otherKey] = await finals([first!, newer!, other!]);
    assert.equal(ran!.state, 'SUCCESS');
    assert.equal(otherKey!.state, 'SUCCESS');
    assert.equal(dropped!.state, 'REVOKED');
    assert.equal(dropped!.error?.type, 'TaskRevokedError');
    assert.match(dropped!.error?.message ?? '', /cancel-newest: key "k1" of flow\.test\.cancel-newest/);
    assert.equal(dropped!.startedAt ?? null, null, 'the dropped task never started');
    const superseded = await worker.metrics.registry.getSingleMetricAsString('celerity_worker_flow_superseded_total');
    assert.match(superseded, /celerity_worker_flow_superseded_total\{task="flow\.test\.cancel-newest"[^}]*\} 1/);
  });

  it('cancel-in-progress: the newest task of a key runs; the running one is terminated and an older waiting one revoked, both REVOKED with the reason', async () => {
    const queue = ctx.queue('flow-in-progress');
    await startInProcess(queue);
    const [oldest] = await publish(ctx, queue, [{ name: 'flow.test.cancel-in-progress', customer: 'k', ms: 60_000 }]);
    await waitFor('the oldest task to start', async () => (await ctx.store.get(oldest!))?.state === 'STARTED');
    const [middle, newest] = await publish(ctx, queue, [
      { name: 'flow.test.cancel-in-progress', customer: 'k', ms: 60_000 },
      { name: 'flow.test.cancel-in-progress', customer: 'k', ms: 50 },
    ]);
    const [o, m, n] = await finals([oldest!, middle!, newest!]);
    assert.equal(n!.state, 'SUCCESS');
    assert.equal(n!.result, 'k');
    for (const row of [o!, m!]) {
      assert.equal(row.state, 'REVOKED', `task ${row.id}`);
      assert.match(row.error?.message ?? '', /cancel-in-progress: superseded by the newer task .* of key "k"/);
    }
    assert.ok(o!.startedAt, 'the oldest had started: it was terminated');
  });

  it('a key function that throws or returns a non-string fails that task with ConcurrencyKeyError; a neighbour succeeds', async () => {
    const queue = ctx.queue('flow-bad-key');
    await startInProcess(queue);
    const ids = await publish(ctx, queue, [
      { name: 'flow.test.bad-key', customer: 'throw' },
      { name: 'flow.test.bad-key', customer: 'number' },
      { name: 'flow.test.bad-key', customer: 'fine' },
    ]);
    const [thrown, number, fine] = await finals(ids);
    assert.deepEqual([thrown!.state, thrown!.error?.type], ['FAILURE', 'ConcurrencyKeyError']);
    assert.match(thrown!.error?.message ?? '', /key function of flow\.test\.bad-key threw: no customer here/);
    assert.deepEqual([number!.state, number!.error?.type], ['FAILURE', 'ConcurrencyKeyError']);
    assert.match(number!.error?.message ?? '', /returned a number, not a string/);
    assert.deepEqual([fine!.state, fine!.result], ['SUCCESS', 'fine']);
  });

  it('a worker killed with -9 while holding a key\'s slot: the key\'s next task runs once the slot expires', async () => {
    const queue = ctx.queue('flow-kill');
    const doomed = await ctx.spawnWorker([queue], {}, FLOW_APP);
    // The holder expires soon: its copy redelivered after the kill is REVOKED (expired), never
    // run again, so only the slot's lease can give the key back.
    const expires = new Date(Date.now() + 4_000).toISOString();
    const [holder] = await publish(ctx, queue, [{ name: 'flow.test.fair', customer: 'K', ms: 600_000, expires }]);
    await waitFor('the holder to start', async () => (await ctx.store.get(holder!))?.state === 'STARTED');
    const [next] = await publish(ctx, queue, [{ name: 'flow.test.fair', customer: 'K', ms: 0 }]);
    await waitFor('the next task to be parked', async () => (await ctx.pool.query('SELECT 1 FROM flow_waiting WHERE task_id = $1', [next])).rowCount === 1);
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const survivor = await ctx.spawnWorker([queue], {}, FLOW_APP);
    const done = await waitFor('the next task to run', async () => {
      const row = await ctx.store.get(next!);
      return row?.state === 'SUCCESS' ? row : undefined;
    }, { timeoutMs: 60_000 });
    assert.equal(done.result, 'K');
    assert.ok(survivor.output().includes('task expired before it could run'), 'the holder\'s redelivered copy expired, not run');
    assert.notEqual((await ctx.store.get(holder!))?.state, 'SUCCESS');
    const { rowCount } = await ctx.pool.query('SELECT 1 FROM flow_slots WHERE task_id = $1', [holder]);
    assert.equal(rowCount, 0, 'the dead worker\'s slot was swept');
  });
});
