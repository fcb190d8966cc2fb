import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  TASK_STATES,
  stateOrder,
  type TaskState,
  type TaskWrite,
} from '../../shared/src/core/task.js';
import { mergeWrites } from '../../shared/src/store/task-writes.js';

const T0 = new Date('2024-01-01T00:00:00.000Z');
const T1 = new Date('2024-01-01T00:00:01.000Z');
const T2 = new Date('2024-01-01T00:00:02.000Z');
const T3 = new Date('2024-01-01T00:00:03.000Z');

function write(state: TaskState, extra: Partial<TaskWrite> = {}): TaskWrite {
  return { id: 't1', name: 'demo.add', queue: 'demo', state, ...extra };
}

describe('stateOrder', () => {
  it('orders the states of one attempt PENDING < RECEIVED < STARTED < RETRY', () => {
    const order = (['PENDING', 'RECEIVED', 'STARTED', 'RETRY'] as const).map((s) => stateOrder(s, 0));
    assert.deepEqual([...order].sort((a, b) => a - b), order);
    assert.equal(new Set(order).size, 4);
  });

  it('puts a later attempt above every state of an earlier one', () => {
    for (const early of ['PENDING', 'RECEIVED', 'STARTED', 'RETRY'] as const) {
      for (const late of ['PENDING', 'RECEIVED', 'STARTED', 'RETRY'] as const) {
        assert.ok(stateOrder(late, 3) > stateOrder(early, 2), `${late}@3 > ${early}@2`);
      }
    }
  });

  it('puts every final state above everything else, whatever the retries', () => {
    for (const final of ['SUCCESS', 'FAILURE', 'REVOKED'] as const) {
      for (const state of TASK_STATES) {
        if (state === 'SUCCESS' || state === 'FAILURE' || state === 'REVOKED') continue;
        assert.ok(stateOrder(final, 0) > stateOrder(state, 1_000_000), `${final}@0 > ${state}@1e6`);
      }
    }
  });
});

describe('mergeWrites', () => {
  it('a late PENDING never beats SUCCESS', () => {
    const success = write('SUCCESS', { result: 3, finishedAt: T2, startedAt: T1, worker: 'w1', retries: 0 });
    const pending = write('PENDING', { args: [1, 2], kwargs: {}, createdAt: T0 });
    const merged = mergeWrites(success, pending);
    assert.equal(merged.state, 'SUCCESS');
    assert.equal(merged.result, 3);
    assert.equal(merged.finishedAt, T2);
    assert.equal(merged.worker, 'w1');
    // What only the PENDING write knew is kept.
    assert.deepEqual(merged.args, [1, 2]);
    assert.equal(merged.createdAt, T0);
  });

  it('SUCCESS after PENDING wins', () => {
    const merged = mergeWrites(write('PENDING', { args: [1, 2], createdAt: T0 }), write('SUCCESS', { result: 3, finishedAt: T2 }));
    assert.equal(merged.state, 'SUCCESS');
    assert.equal(merged.result, 3);
    assert.deepEqual(merged.args, [1, 2]);
    assert.equal(merged.createdAt, T0);
  });

  it("a later attempt's STARTED beats an earlier attempt's RETRY, in either arrival order", () => {
    const retry = write('RETRY', { retries: 0, worker: 'w1' });
    const started = write('STARTED', { retries: 1, worker: 'w2', startedAt: T3 });
    for (const merged of [mergeWrites(retry, started), mergeWrites(started, retry)]) {
      assert.equal(merged.state, 'STARTED');
      assert.equal(merged.retries, 1);
      assert.equal(merged.worker, 'w2');
      assert.equal(merged.startedAt, T3);
    }
  });

  it('an earlier STARTED does not beat a RETRY of the same attempt', () => {
    const merged = mergeWrites(write('RETRY', { retries: 2 }), write('STARTED', { retries: 2 }));
    assert.equal(merged.state, 'RETRY');
  });

  it('createdAt keeps the earliest value, whichever write wins', () => {
    assert.equal(mergeWrites(write('PENDING', { createdAt: T2 }), write('STARTED', { createdAt: T0 })).createdAt, T0);
    assert.equal(mergeWrites(write('PENDING', { createdAt: T0 }), write('STARTED', { createdAt: T2 })).createdAt, T0);
    assert.equal(mergeWrites(write('SUCCESS', { createdAt: T3 }), write('PENDING', { createdAt: T1 })).createdAt, T1);
    assert.equal(mergeWrites(write('PENDING'), write('STARTED', { createdAt: T1 })).createdAt, T1);
    assert.equal(mergeWrites(write('PENDING'), write('STARTED')).createdAt, undefined);
  });

  it('startedAt is kept when the winning write does not carry one', () => {
    const merged = mergeWrites(write('STARTED', { startedAt: T1, worker: 'w1' }), write('SUCCESS', { result: 1, finishedAt: T2 }));
    assert.equal(merged.state, 'SUCCESS');
    assert.equal(merged.startedAt, T1);
    assert.equal(merged.worker, 'w1');
    // ... and the losing write's startedAt is used when the winner has none, in the other order too.
    assert.equal(mergeWrites(write('SUCCESS', { finishedAt: T2 }), write('STARTED', { startedAt: T1 })).startedAt, T1);
  });

  it("the winner's startedAt is preferred over the loser's", () => {
    const merged = mergeWrites(write('STARTED', { retries: 0, startedAt: T1 }), write('STARTED', { retries: 1, startedAt: T3 }));
    assert.equal(merged.startedAt, T3);
  });

  it('on a tie the earlier write stays, as the UPSERT does (strictly higher order replaces)', () => {
    const first = mergeWrites(write('SUCCESS', { result: 'first' }), write('FAILURE', { error: { type: 'E', message: 'm' } }));
    assert.equal(first.state, 'SUCCESS');
    assert.equal(first.result, 'first');
  });

  it("a later attempt does not inherit the earlier attempt's error, as the UPSERT clears it", () => {
    // The UPSERT sets error_type/error_message from the winning row, NULL when it has none.
    const merged = mergeWrites(
      write('RETRY', { retries: 0, error: { type: 'TimeoutError', message: 'attempt 1 timed out' }, finishedAt: T1 }),
      write('STARTED', { retries: 1, startedAt: T2 }),
    );
    assert.equal(merged.state, 'STARTED');
    assert.equal(merged.error ?? null, null);
    assert.equal(merged.finishedAt ?? null, null);
  });
});
