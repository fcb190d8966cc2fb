import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { type TaskOutcome } from '../../shared/src/broker/results.js';
import { type TaskRecord } from '../../shared/src/core/task.js';
import { type TaskStore } from '../../shared/src/store/store.js';
import { TaskLedger } from '../../shared/src/submit/task-ledger.js';
import { type Finished, type LedgerWaitsOptions, type WaitOptions } from '../../shared/src/submit/ledger-waits.js';
import { track, turns, waitFor } from './support.js';

/**
 * The waits on the task ledger (shared/src/submit/ledger-waits.ts, through TaskLedger), ported
 * from the TaskWaiters they replace: `resolveReply` is the ledger's reply feed (`heard`).
 */

/** The part of TaskStore that the ledger's waits use, answering from an in-memory set of finished tasks. */
class FakeStore {
  readonly finished = new Map<string, TaskRecord>();
  readonly queries: string[][] = [];
  failures = 0;

  getFinished(ids: readonly string[]): Promise<TaskRecord[]> {
    this.queries.push([...ids]);
    if (this.failures > 0) {
      this.failures--;
      return Promise.reject(new Error('database unavailable'));
    }
    return Promise.resolve(ids.flatMap((id) => this.finished.get(id) ?? []));
  }

  finish(id: string): TaskRecord {
    const record: TaskRecord = {
      id,
      name: 'demo.add',
      queue: 'demo',
      state: 'SUCCESS',
      args: [1, 2],
      kwargs: {},
      result: 3,
      retries: 0,
      createdAt: new Date(),
      finishedAt: new Date(),
    };
    this.finished.set(id, record);
    return record;
  }
}

/** The waiters' face of a ledger. */
interface Waiters {
  wait(id: string, options: WaitOptions): Promise<Finished | undefined>;
  readonly size: number;
  resolveReply(outcome: TaskOutcome): void;
  cancelAll(): void;
}

function setup(options: Partial<LedgerWaitsOptions> = {}): { store: FakeStore; waiters: Waiters; ledger: TaskLedger } {
  const store = new FakeStore();
  const ledger = new TaskLedger({
    store: store as unknown as TaskStore,
    logger: createSilentLogger(),
    tickMs: 2,
    minPollMs: 2,
    maxPollMs: 10,
    ...options,
  });
  const waiters: Waiters = {
    wait: (id, o) => ledger.wait(id, o),
    get size() {
      return ledger.waits.size;
    },
    resolveReply: (o) => ledger.heard(o),
    cancelAll: () => ledger.cancelAll(),
  };
  return { store, waiters, ledger };
}

function outcome(id: string): TaskOutcome {
  return { id, state: 'SUCCESS', result: 42, finishedAt: new Date() };
}

/** Long enough never to fire during a test; every waiter using it is ended explicitly. */
const LONG = 10_000;

describe('TaskLedger: waits', () => {
  it('resolveReply resolves every waiter of that task and only those', async () => {
    // Polling effectively off, so only the reply can resolve them.
    const { waiters } = setup({ tickMs: 1000 });
    const a1 = track(waiters.wait('a', { timeoutMs: LONG, pollAfterMs: LONG }));
    const a2 = track(waiters.wait('a', { timeoutMs: LONG, pollAfterMs: LONG }));
    const b = track(waiters.wait('b', { timeoutMs: LONG, pollAfterMs: LONG }));
    assert.equal(waiters.size, 3);

    const reply = outcome('a');
    waiters.resolveReply(reply);
    await turns();
    assert.deepEqual(a1.state, { status: 'fulfilled', value: { kind: 'reply', outcome: reply } });
    assert.deepEqual(a2.state, { status: 'fulfilled', value: { kind: 'reply', outcome: reply } });
    assert.equal(b.state.status, 'pending');
    assert.equal(waiters.size, 1);

    waiters.resolveReply(outcome('a')); // nobody left for a: no effect
    waiters.resolveReply(outcome('unknown'));
    assert.equal(waiters.size, 1);

    waiters.resolveReply(outcome('b'));
    await turns();
    assert.equal(b.state.status, 'fulfilled');
    assert.equal(waiters.size, 0);
  });

  it('resolves undefined at the deadline and forgets the waiter', async () => {
    const { waiters, store } = setup();
    const started = Date.now();
    const result = await waiters.wait('slow', { timeoutMs: 20 });
    assert.equal(result, undefined);
    assert.ok(Date.now() - started >= 15, 'not before the deadline');
    assert.equal(waiters.size, 0);
    // A late finish or reply for it has nobody to resolve.
    store.finish('slow');
    waiters.resolveReply(outcome('slow'));
    assert.equal(waiters.size, 0);
  });

  it('resolves undefined when the signal aborts, and forgets the waiter', async () => {
    const { waiters } = setup();
    const controller = new AbortController();
    const waiting = track(waiters.wait('x', { timeoutMs: LONG, pollAfterMs: LONG, signal: controller.signal }));
    const other = track(waiters.wait('x', { timeoutMs: LONG, pollAfterMs: LONG }));
    assert.equal(waiters.size, 2);
    controller.abort();
    await turns();
    assert.deepEqual(waiting.state, { status: 'fulfilled', value: undefined });
    assert.equal(other.state.status, 'pending', 'only the aborted request ends');
    assert.equal(waiters.size, 1);
    waiters.resolveReply(outcome('x'));
    await turns();
    assert.equal(other.state.status, 'fulfilled');
    assert.equal(waiters.size, 0);
  });

  it('resolves undefined at once for an already-aborted signal, registering nothing', async () => {
    const { waiters, store } = setup();
    const result = await waiters.wait('x', { timeoutMs: LONG, signal: AbortSignal.abort() });
    assert.equal(result, undefined);
    assert.equal(waiters.size, 0);
    assert.equal(store.queries.length, 0);
  });

  it('a store poll resolves a waiter whose task has finished', async () => {
    const { waiters, store } = setup();
    const done = track(waiters.wait('p', { timeoutMs: LONG }));
    const notDone = track(waiters.wait('q', { timeoutMs: LONG }));
    await waitFor(() => store.queries.length >= 1, 'a first poll');
    assert.equal(done.state.status, 'pending', 'not finished yet');
    const record = store.finish('p');
    await waitFor(() => done.state.status !== 'pending', 'the poll to find p');
    assert.deepEqual(done.state, { status: 'fulfilled', value: { kind: 'record', record } });
    assert.equal(notDone.state.status, 'pending');
    assert.equal(waiters.size, 1);
    waiters.cancelAll();
    await turns();
    assert.deepEqual(notDone.state, { status: 'fulfilled', value: undefined });
    assert.equal(waiters.size, 0);
  });

  it('polls the ids of all due waiters in one query, once per id', async () => {
    const { waiters, store } = setup();
    const ids = ['a', 'b', 'c'];
    const all = ids.map((id) => waiters.wait(id, { timeoutMs: LONG }));
    const twice = waiters.wait('a', { timeoutMs: LONG });
    await waitFor(() => store.queries.length >= 1, 'a poll');
    assert.deepEqual([...(store.queries[0] ?? [])].sort(), ids);
    for (const id of ids) store.finish(id);
    const results = await Promise.all([...all, twice]);
    assert.ok(results.every((r) => r?.kind === 'record'));
    assert.equal(waiters.size, 0);
  });

  it('puts at most pollBatch ids in one query', async () => {
    const { waiters, store } = setup({ pollBatch: 2 });
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => waiters.wait(id, { timeoutMs: LONG }));
    await waitFor(() => store.queries.length >= 3, 'three polls');
    assert.ok(store.queries.every((q) => q.length <= 2), JSON.stringify(store.queries));
    waiters.cancelAll();
    assert.deepEqual(await Promise.all(all), [undefined, undefined, undefined, undefined, undefined]);
    assert.equal(waiters.size, 0);
  });

  it('does not poll the store before pollAfterMs', async () => {
    const { waiters, store } = setup();
    const waiting = waiters.wait('r', { timeoutMs: LONG, pollAfterMs: LONG });
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(store.queries.length, 0, 'replies are expected first');
    waiters.resolveReply(outcome('r'));
    assert.equal((await waiting)?.kind, 'reply');
    assert.equal(waiters.size, 0);
  });

  it('keeps waiting when a poll fails, and a later poll resolves it', async () => {
    const { waiters, store } = setup();
    store.failures = 2;
    store.finish('f');
    const result = await waiters.wait('f', { timeoutMs: LONG });
    assert.equal(result?.kind, 'record');
    assert.ok(store.queries.length >= 3, `polled ${store.queries.length} times`);
    assert.equal(waiters.size, 0);
  });

  it('stops polling once no waiter is left', async () => {
    const { waiters, store } = setup();
    const waiting = waiters.wait('s', { timeoutMs: LONG });
    await waitFor(() => store.queries.length >= 1, 'a poll');
    waiters.resolveReply(outcome('s'));
    await waiting;
    const polls = store.queries.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(store.queries.length <= polls + 1, `kept polling: ${polls} → ${store.queries.length}`);
    assert.equal(waiters.size, 0);
  });

  it('cancelAll ends every waiter with undefined and stops polling', async () => {
    const { waiters, store } = setup();
    const all = [
      waiters.wait('a', { timeoutMs: LONG }),
      waiters.wait('a', { timeoutMs: LONG }),
      waiters.wait('b', { timeoutMs: LONG, pollAfterMs: LONG }),
    ];
    assert.equal(waiters.size, 3);
    waiters.cancelAll();
    assert.deepEqual(await Promise.all(all), [undefined, undefined, undefined]);
    assert.equal(waiters.size, 0);
    const polls = store.queries.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(store.queries.length <= polls + 1, `kept polling after cancelAll: ${polls} → ${store.queries.length}`);
  });

  it('a reply after the deadline or abort does not resurrect anything', async () => {
    const { waiters } = setup();
    const controller = new AbortController();
    const aborted = waiters.wait('z', { timeoutMs: LONG, pollAfterMs: LONG, signal: controller.signal });
    controller.abort();
    assert.equal(await aborted, undefined);
    waiters.resolveReply(outcome('z'));
    controller.abort();
    assert.equal(waiters.size, 0);
  });

  it('a final reply that came before the wait answers it without a store poll', async () => {
    const { store, waiters, ledger } = setup({ tickMs: 1_000 });
    waiters.resolveReply(outcome('early'));
    assert.equal(ledger.outcomeOf('early')?.result, 42, 'kept in the ledger');
    const finished = await waiters.wait('early', { timeoutMs: LONG, pollAfterMs: LONG });
    assert.equal(finished?.kind, 'reply');
    assert.equal(store.queries.length, 0, 'the store was not asked');
  });
});
