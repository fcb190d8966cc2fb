/**
 * The recent final replies (shared/src/client/recent-finals.ts): a property test against a
 * plain model (bounded size, never an evicted or expired entry, the newest outcome wins), and
 * the reads that lay a kept outcome over the store's row.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RecentFinals, type TaskOutcome, type TaskRecord, type TaskState, type TaskStore } from '../../shared/src/index.js';

const finishedAt = new Date('2026-12-02T06:00:00Z');

function outcome(id: string, state: TaskState, result: unknown = null): TaskOutcome {
  return { id, state, result, finishedAt, worker: 'w1', retries: 0, attempts: 1, senderRecords: true };
}

function row(id: string, state: TaskState, extra: Partial<TaskRecord> = {}): TaskRecord {
  return { id, name: 'demo.add', queue: 'demo', state, args: [1, 2], kwargs: {}, retries: 0, createdAt: finishedAt, owner: 'key-1', ...extra };
}

/** A store holding `rows`, as far as reads go. */
function storeOf(...rows: TaskRecord[]): Pick<TaskStore, 'get'> {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return { get: (id) => Promise.resolve(byId.get(id)) };
}

type Op = { kind: 'add'; id: string; state: TaskState; value: number } | { kind: 'tick'; ms: number } | { kind: 'forget'; id: string };

const ids = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g');
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), id: ids, state: fc.constantFrom<TaskState>('SUCCESS', 'FAILURE', 'REVOKED', 'STARTED', 'RETRY'), value: fc.integer() }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('forget' as const), id: ids }),
);

describe('RecentFinals', () => {
  it('holds at most maxEntries, never answers with an evicted or expired outcome, and the newest outcome of a task wins', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 100 }), fc.array(op, { maxLength: 60 }), (maxEntries, maxAgeMs, ops) => {
        let now = 0;
        const finals = new RecentFinals({ maxEntries, maxAgeMs, now: () => now });
        // The model: final outcomes in arrival order, each with its arrival time.
        let model: { id: string; value: number; at: number }[] = [];
        for (const o of ops) {
          if (o.kind === 'tick') now += o.ms;
          else if (o.kind === 'forget') {
            finals.forget(o.id);
            model = model.filter((e) => e.id !== o.id);
          } else {
            finals.add(outcome(o.id, o.state, o.value));
            if (o.state === 'SUCCESS' || o.state === 'FAILURE' || o.state === 'REVOKED') {
              model = [...model.filter((e) => e.id !== o.id), { id: o.id, value: o.value, at: now }].slice(-maxEntries);
            }
          }
          assert.ok(finals.size <= maxEntries, 'bounded by count');
          for (const id of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) {
            const expected = model.find((e) => e.id === id && now - e.at <= maxAgeMs);
            assert.equal(finals.get(id)?.result, expected?.value, `entry ${id} at ${now}`);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keeps final outcomes only', () => {
    const finals = new RecentFinals();
    finals.add(outcome('r', 'RETRY'));
    finals.add(outcome('s', 'STARTED'));
    assert.equal(finals.size, 0);
  });

  it('a read lays the kept outcome over a row that is not final yet, keeping what the row knows', async () => {
    const finals = new RecentFinals();
    finals.add(outcome('t', 'SUCCESS', 3));
    const read = await finals.read(storeOf(row('t', 'STARTED', { attempts: 1, leaseExpiresAt: new Date(), startedAt: finishedAt })), 't');
    assert.equal(read?.state, 'SUCCESS');
    assert.equal(read?.result, 3);
    assert.equal(read?.owner, 'key-1');
    assert.deepEqual(read?.args, [1, 2]);
    assert.equal(read?.finishedAt, finishedAt);
    assert.equal(read?.leaseExpiresAt, undefined, 'a finished task holds no lease');
  });

  it('a final row wins over a kept outcome, and the outcome is dropped then', async () => {
    const finals = new RecentFinals();
    finals.add(outcome('t', 'SUCCESS', 'from the reply'));
    const read = await finals.read(storeOf(row('t', 'SUCCESS', { result: 'from the store' })), 't');
    assert.equal(read?.result, 'from the store');
    assert.equal(finals.get('t'), undefined);
  });

  it('with no row yet, a read answers from the task as described by its submit, or not at all', async () => {
    const finals = new RecentFinals();
    finals.add(outcome('t', 'FAILURE'));
    assert.equal(await finals.read(storeOf(), 't'), undefined, 'nothing to build the task from');
    finals.describe(row('t', 'PENDING'));
    const read = await finals.read(storeOf(), 't');
    assert.equal(read?.state, 'FAILURE');
    assert.equal(read?.name, 'demo.add');
    // A newer reply for the task (it ran again) keeps the description.
    finals.add(outcome('t', 'SUCCESS', 9));
    assert.equal((await finals.read(storeOf(), 't'))?.result, 9);
    finals.describe(row('other', 'PENDING'));
    assert.equal(finals.size, 1, 'describing a task with no kept outcome keeps nothing');
  });

  it('an outcome looked up before the row was read still counts when it is dropped meanwhile (the commit was seen)', async () => {
    const finals = new RecentFinals();
    finals.add(outcome('t', 'SUCCESS', 1));
    const store: Pick<TaskStore, 'get'> = {
      get: () => {
        // The commit notification arrives while this read is in flight; the row it reads is older.
        finals.forget('t');
        return Promise.resolve(row('t', 'STARTED'));
      },
    };
    assert.equal((await finals.read(store, 't'))?.state, 'SUCCESS');
  });
});
