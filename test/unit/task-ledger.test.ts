/**
 * The task ledger (shared/src/submit/task-ledger.ts): a property test that drives it with random
 * interleavings of publish / reply / commit / notify / wait / timeout / read, under a byte bound
 * small enough to evict, against a store model; and the reads that lay a final reply over the
 * store's row (ported from the RecentFinals the ledger replaces).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TaskLedger } from '../../shared/src/submit/task-ledger.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { isFinalState, type TaskRecord, type TaskState } from '../../shared/src/core/task.js';
import { type PendingWait } from '../../shared/src/submit/ledger-waits.js';
import { type Submission } from '../../shared/src/submit/submission.js';
import { type TaskOutcome } from '../../shared/src/broker/results.js';
import { type TaskStore } from '../../shared/src/store/store.js';
import { turns } from './support.js';

const finishedAt = new Date('2026-12-02T06:00:00Z');
const logger = createSilentLogger();

function outcome(id: string, state: TaskState, result: unknown = null): TaskOutcome {
  return { id, state, result, finishedAt, worker: 'w1', retries: 0, attempts: 1, senderRecords: true };
}

function row(id: string, state: TaskState, extra: Partial<TaskRecord> = {}): TaskRecord {
  return { id, name: 'demo.add', queue: 'demo', state, args: [1, 2], kwargs: {}, retries: 0, createdAt: finishedAt, owner: 'key-1', ...extra };
}

const submission = (id: string, args: unknown[] = [1, 2]): Submission => ({ id, name: 'demo.add', queue: 'demo', args, kwargs: {}, createdAt: finishedAt, fingerprint: '', owner: 'key-1' });

/** A store holding rows by id; reads and polls answer from it. */
class ModelStore {
  readonly rows = new Map<string, TaskRecord>();
  get = (id: string): Promise<TaskRecord | undefined> => Promise.resolve(this.rows.get(id));
  getFinished = (ids: readonly string[]): Promise<TaskRecord[]> => Promise.resolve(ids.flatMap((id) => this.rows.get(id) ?? []).filter((r) => isFinalState(r.state)));
  record = (): Promise<void> => Promise.resolve();
  forgetUnpublished = (): Promise<void> => Promise.resolve();
  asStore(): TaskStore {
    return this as unknown as TaskStore;
  }
}

const rank = (state: TaskState | undefined): number => (state === undefined ? 0 : isFinalState(state) ? 3 : state === 'PENDING' ? 1 : 2);

type Op =
  | { kind: 'publish'; id: string; size: number }
  | { kind: 'started'; id: string }
  | { kind: 'reply'; id: string; size: number }
  | { kind: 'commit'; id: string }
  | { kind: 'notify'; id: string }
  | { kind: 'wait'; id: string }
  | { kind: 'timeout' }
  | { kind: 'read'; id: string };

const ID_LIST = ['a', 'b', 'c'];
const ids = fc.constantFrom(...ID_LIST);
const size = fc.integer({ min: 0, max: 600 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('publish' as const), id: ids, size }),
  fc.record({ kind: fc.constant('started' as const), id: ids }),
  fc.record({ kind: fc.constant('reply' as const), id: ids, size }),
  fc.record({ kind: fc.constant('commit' as const), id: ids }),
  fc.record({ kind: fc.constant('notify' as const), id: ids }),
  fc.record({ kind: fc.constant('wait' as const), id: ids }),
  fc.constant({ kind: 'timeout' as const }),
  fc.record({ kind: fc.constant('read' as const), id: ids }),
);

/** An entry's most bytes in this test: the fixed overhead, the id, a string argument and a string result. */
const ENTRY_MAX = 400 + 1 + (600 + 4) + (600 + 2) + 8;

describe('TaskLedger', () => {
  it('keeps to its byte bound (beyond it only what someone waits on), never evicts a waited entry, and a read never shows an earlier state than an answer did', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(op, { minLength: 10, maxLength: 80, size: 'max' }), async (entriesWorth, ops) => {
        const store = new ModelStore();
        const maxBytes = entriesWorth * 1000;
        const ledger = new TaskLedger({ store: store.asStore(), logger, maxBytes, tickMs: 60_000, minPollMs: 60_000, maxPollMs: 60_000 });
        /** The latest state this process answered for each id (a wait's answer or a read), and the final reply's value. */
        const answered = new Map<string, number>();
        /** Ids whose final reply was heard and whose commit has not landed: what the bound may force out last. */
        const uncommitted = new Set<string>();
        /** Ids whose uncommitted final reply the bound forced out (reads may then show the store's earlier row). */
        const forgotten = new Set<string>();
        const open: { id: string; wait: PendingWait }[] = [];
        const note = (id: string, state: TaskState | undefined): void => {
          const before = answered.get(id) ?? 0;
          if (!forgotten.has(id)) assert.ok(rank(state) >= before, `${id}: answered rank ${before}, then read ${state ?? 'nothing'}`);
          answered.set(id, Math.max(before, rank(state)));
        };
        const results = new Map<string, string>();
        /** Failed checks made when a wait is answered (outside this loop's await). */
        const failures: unknown[] = [];
        try {
          for (const o of ops) {
            switch (o.kind) {
              case 'publish':
                if (!store.rows.has(o.id)) ledger.published(submission(o.id, ['x'.repeat(o.size)]));
                break;
              case 'started': {
                const current = store.rows.get(o.id);
                if (!current || !isFinalState(current.state)) store.rows.set(o.id, row(o.id, 'STARTED'));
                break;
              }
              case 'reply': {
                // A task's outcome is decided once: every reply and the commit carry the same one.
                const result = results.get(o.id) ?? 'r'.repeat(o.size);
                results.set(o.id, result);
                if (!isFinalState(store.rows.get(o.id)?.state ?? 'PENDING')) uncommitted.add(o.id);
                ledger.heard(outcome(o.id, 'SUCCESS', result));
                break;
              }
              case 'commit': {
                if (!results.has(o.id)) break;
                store.rows.set(o.id, row(o.id, 'SUCCESS', { result: results.get(o.id) }));
                uncommitted.delete(o.id);
                break;
              }
              case 'notify':
                if (isFinalState(store.rows.get(o.id)?.state ?? 'PENDING')) ledger.notified(o.id);
                break;
              case 'wait': {
                const wait = ledger.start(o.id, { timeoutMs: 60_000, pollAfterMs: 60_000 });
                open.push({ id: o.id, wait });
                void wait.finished.then((finished) => {
                  try {
                    if (finished) note(o.id, finished.kind === 'record' ? finished.record.state : finished.outcome.state);
                  } catch (err) {
                    failures.push(err);
                  }
                });
                break;
              }
              case 'timeout':
                open.shift()?.wait.cancel();
                break;
              case 'read':
                // As the client's state() reads: the row, else the final reply heard here (the
                // gateway's GET waits only on a task it found).
                note(o.id, (await ledger.read(o.id))?.state ?? ledger.outcomeOf(o.id)?.state);
                break;
            }
            await turns(1);
            if (failures.length > 0) throw failures[0];
            for (const id of uncommitted) if (ledger.stateOf(id) === undefined) forgotten.add(id);
            const waited = new Set(open.map((w) => w.id).filter((id) => ledger.waits.has(id)));
            for (const id of waited) assert.notEqual(ledger.stateOf(id), undefined, `${id} is waited on, so kept`);
            const { bytes, entries } = ledger.size;
            assert.ok(bytes <= maxBytes + waited.size * ENTRY_MAX, `${bytes} bytes in ${entries} entries over ${maxBytes} with ${waited.size} waited on`);
            assert.ok(entries >= waited.size);
          }
          // With the whole bound free for them, no uncommitted final reply is ever forced out.
          if (entriesWorth * 1000 >= ID_LIST.length * ENTRY_MAX) assert.equal(forgotten.size, 0);
        } finally {
          ledger.cancelAll();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps final outcomes only', () => {
    const ledger = new TaskLedger({ store: new ModelStore().asStore(), logger });
    ledger.heard(outcome('r', 'RETRY'));
    ledger.heard(outcome('s', 'STARTED'));
    assert.equal(ledger.size.entries, 0);
  });

  it('a read lays the kept outcome over a row that is not final yet, keeping what the row knows', async () => {
    const store = new ModelStore();
    store.rows.set('t', row('t', 'STARTED', { attempts: 1, leaseExpiresAt: new Date(), startedAt: finishedAt }));
    const ledger = new TaskLedger({ store: store.asStore(), logger });
    ledger.heard(outcome('t', 'SUCCESS', 3));
    const read = await ledger.read('t');
    assert.equal(read?.state, 'SUCCESS');
    assert.equal(read?.result, 3);
    assert.equal(read?.owner, 'key-1');
    assert.deepEqual(read?.args, [1, 2]);
    assert.equal(read?.finishedAt, finishedAt);
    assert.equal(read?.leaseExpiresAt, undefined, 'a finished task holds no lease');
  });

  it('a final row wins over a kept outcome, and the outcome is dropped then', async () => {
    const store = new ModelStore();
    store.rows.set('t', row('t', 'SUCCESS', { result: 'from the store' }));
    const ledger = new TaskLedger({ store: store.asStore(), logger });
    ledger.heard(outcome('t', 'SUCCESS', 'from the reply'));
    assert.equal((await ledger.read('t'))?.result, 'from the store');
    assert.equal(ledger.outcomeOf('t'), undefined);
    assert.equal(ledger.size.entries, 0);
  });

  it('with no row yet, a read answers from the task as submitted here, or not at all', async () => {
    const ledger = new TaskLedger({ store: new ModelStore().asStore(), logger });
    ledger.heard(outcome('t', 'FAILURE'));
    assert.equal(await ledger.read('t'), undefined, 'nothing to build the task from');
    ledger.published(submission('u'));
    ledger.heard(outcome('u', 'FAILURE'));
    const read = await ledger.read('u');
    assert.equal(read?.state, 'FAILURE');
    assert.equal(read?.name, 'demo.add');
    assert.equal(read?.owner, 'key-1');
    // A newer reply for the task (it ran again) keeps what was submitted.
    ledger.heard(outcome('u', 'SUCCESS', 9));
    assert.equal((await ledger.read('u'))?.result, 9);
  });

  it('an outcome looked up before the row was read still counts when it is dropped meanwhile (the commit was seen)', async () => {
    const held: { ledger?: TaskLedger } = {};
    const store = {
      get: () => {
        // The commit notification arrives while this read is in flight; the row it reads is older.
        held.ledger?.notified('t');
        return Promise.resolve(row('t', 'STARTED'));
      },
    } as unknown as TaskStore;
    const ledger = new TaskLedger({ store, logger });
    held.ledger = ledger;
    ledger.heard(outcome('t', 'SUCCESS', 1));
    assert.equal((await ledger.read('t'))?.state, 'SUCCESS');
  });

  it('subscribe reports each transition once, in order, and pins the entry until unsubscribed', async () => {
    const store = new ModelStore();
    const ledger = new TaskLedger({ store: store.asStore(), logger, maxBytes: 1 });
    ledger.published(submission('t'));
    assert.equal(ledger.stateOf('t'), undefined, 'over a 1-byte bound, an idle entry goes at once');
    const seen: string[] = [];
    const unsubscribe = ledger.subscribe('t', (change) => seen.push(`${change.state}:${change.task?.state ?? '-'}`));
    ledger.published(submission('t'));
    ledger.heard(outcome('t', 'SUCCESS', 5));
    ledger.heard(outcome('t', 'SUCCESS', 5));
    store.rows.set('t', row('t', 'SUCCESS', { result: 5 }));
    await ledger.read('t');
    assert.deepEqual(seen, ['waiting:-', 'final-heard:SUCCESS', 'committed:SUCCESS']);
    assert.equal(ledger.stateOf('t'), 'committed', 'a listened-to entry stays');
    unsubscribe();
    assert.equal(ledger.stateOf('t'), undefined);
  });

  it('PENDING rows: written for an answer without the end, never under a final state heard here; a re-publish keeps the row on failure', async () => {
    const writes: string[] = [];
    const removed: string[] = [];
    const store = {
      record: (w: TaskRecord) => (writes.push(`${w.id}:${w.state}:${w.owner ?? '-'}`), Promise.resolve()),
      forgetUnpublished: (id: string) => (removed.push(id), Promise.resolve()),
    } as unknown as TaskStore;
    const ledger = new TaskLedger({ store, logger });
    assert.deepEqual([ledger.pendingAtPublish(0), ledger.pendingAtPublish(1000)], [true, false]);
    await ledger.recordPending(submission('p'));
    ledger.heard(outcome('f', 'SUCCESS'));
    await ledger.recordPending(submission('f'));
    assert.deepEqual(writes, ['p:PENDING:key-1']);
    await ledger.forgetUnpublished(submission('p'), Promise.resolve());
    await ledger.forgetUnpublished({ ...submission('q'), republish: true }, Promise.resolve());
    assert.deepEqual(removed, ['p'], "a re-publish's failure leaves the first publish's row");
  });
});
