/**
 * The worker pipeline's pure steps (decode, admit, verdict) with small fakes: what runs, what
 * does not, and what a task's outcome means. Property tests hold the rules that keep a task
 * from running twice or early.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { MAX_RETRIES_HEADER, REPUBLISHED_HEADER } from '../../shared/src/core/retry.js';
import { RetryableError } from '../../shared/src/core/errors.js';
import { TASK_STATES, isFinalState, type TaskRecord } from '../../shared/src/core/task.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { encodeTaskMessage, newTaskMessage, type TaskMessage } from '../../shared/src/broker/protocol.js';
import { admit, checkRedelivery, screen, type AdmitDeps } from '../../worker/src/pipeline/admit.js';
import { decode } from '../../worker/src/pipeline/decode.js';
import type { Delivery } from '../../worker/src/pipeline/types.js';
import { judge } from '../../worker/src/pipeline/verdict.js';
import { demoApp } from '../helpers/demo.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

function message(patch: Partial<TaskMessage> = {}): TaskMessage {
  return { ...newTaskMessage({ id: 't1', name: 'demo.add', args: [1, 2], kwargs: {} }), ...patch };
}

function delivery(m: TaskMessage, redelivered = false, headers: Record<string, unknown> = {}): Delivery {
  const encoded = encodeTaskMessage(m);
  return {
    queue: 'demo',
    content: encoded.content,
    properties: { ...encoded.options, headers: { ...encoded.options.headers, ...headers } },
    redelivered,
  };
}

function record(patch: Partial<TaskRecord>): TaskRecord {
  return { id: 't1', name: 'demo.add', queue: 'demo', state: 'STARTED', args: [1, 2], kwargs: {}, retries: 0, createdAt: new Date(NOW), ...patch };
}

const state = fc.constantFrom(...TASK_STATES);
const storedRecord = fc.record({
  state,
  retries: fc.integer({ min: 0, max: 5 }),
  deliveries: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
  attempts: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
  leaseOffsetMs: fc.option(fc.integer({ min: -60_000, max: 60_000 }), { nil: undefined }),
});

describe('pipeline: decode', () => {
  it('a task message decodes; bytes that are not one are malformed, not thrown', () => {
    const ok = decode(delivery(message()));
    assert.equal(ok.kind, 'task');
    const bad = decode({ ...delivery(message()), content: Buffer.from('not json') });
    assert.equal(bad.kind, 'malformed');
  });
});

describe('pipeline: admit', () => {
  it('a message whose eta is ahead is never admitted early', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 ** 9 }), fc.option(fc.integer({ min: -(10 ** 9), max: 10 ** 9 }), { nil: undefined }), (aheadMs, expiresOffset) => {
        const expires = expiresOffset === undefined ? null : new Date(NOW + expiresOffset).toISOString();
        const refusal = screen(message({ eta: new Date(NOW + aheadMs).toISOString(), expires }), NOW);
        assert.ok(refusal, 'refused');
        if (refusal.kind === 'not-due') assert.equal(refusal.delayMs, aheadMs);
        else assert.equal(refusal.kind, 'expired');
      }),
    );
  });

  it('an expired message is revoked even when it is not due yet', () => {
    const refusal = screen(message({ eta: new Date(NOW + 60_000).toISOString(), expires: new Date(NOW - 1).toISOString() }), NOW);
    assert.equal(refusal?.kind, 'expired');
  });

  it('arguments the store cannot hold are refused first', () => {
    assert.equal(screen(message({ args: ['a\u0000b'] }), NOW)?.kind, 'unstorable-arguments');
  });

  it('a copy of a task in a final state is answered from the store, never run', () => {
    fc.assert(
      fc.property(storedRecord, fc.integer({ min: 0, max: 5 }), fc.boolean(), fc.integer({ min: 1, max: 10 }), (s, retries, runningHere, limit) => {
        fc.pre(isFinalState(s.state));
        const stored = record({ ...s, leaseExpiresAt: s.leaseOffsetMs === undefined ? null : new Date(NOW + s.leaseOffsetMs) });
        const checked = checkRedelivery({ message: message({ retries }), stored, runningHere, now: NOW, deliveryLimit: limit });
        assert.ok('kind' in checked && checked.kind === 'finished');
      }),
    );
  });

  it('a copy is run only when nothing else runs it, its retry is not ahead, and it stays within the delivery limit', () => {
    fc.assert(
      fc.property(fc.option(storedRecord, { nil: undefined }), fc.integer({ min: 0, max: 5 }), fc.boolean(), fc.integer({ min: 1, max: 10 }), (s, retries, runningHere, limit) => {
        const stored = s && record({ ...s, leaseExpiresAt: s.leaseOffsetMs === undefined ? null : new Date(NOW + s.leaseOffsetMs) });
        const checked = checkRedelivery({ message: message({ retries }), stored, runningHere, now: NOW, deliveryLimit: limit });
        if ('kind' in checked) return;
        assert.ok(!runningHere, 'not while running here');
        assert.ok(!stored || !isFinalState(stored.state), 'not when final');
        const liveLease = stored?.state === 'STARTED' && stored.retries === retries && (stored.leaseExpiresAt?.getTime() ?? 0) > NOW;
        assert.ok(!liveLease, 'not under a live lease');
        assert.ok(!stored || stored.retries <= retries, 'not when its retry is scheduled');
        assert.ok(checked.deliveries >= 1 && checked.deliveries <= limit, `deliveries ${checked.deliveries} within ${limit}`);
        assert.ok(checked.attempts >= retries + 1, 'attempts count this one');
      }),
    );
  });

  it('started as often as the limit allows: the next start is refused with the count so far', () => {
    const checked = checkRedelivery({ message: message(), stored: record({ state: 'STARTED', deliveries: 3, attempts: 3 }), runningHere: false, now: NOW, deliveryLimit: 3 });
    assert.deepEqual(checked, { kind: 'delivery-limit', limit: 3, attempts: 3, deliveries: 3 });
  });

  async function deps(stored: TaskRecord | undefined, lookups: string[] = []): Promise<AdmitDeps> {
    return {
      catalogue: new Catalogue((await demoApp()).tasks),
      appUrl: undefined,
      deliveryLimit: 5,
      lookup: (id) => {
        lookups.push(id);
        return Promise.resolve(stored);
      },
      runningHere: () => false,
      log: createSilentLogger(),
    };
  }

  it('a fresh message is not looked up in the store; a redelivered or re-published one is', async () => {
    const lookups: string[] = [];
    const d = await deps(undefined, lookups);
    assert.equal((await admit(delivery(message()), message(), d)).kind, 'run');
    assert.deepEqual(lookups, []);
    assert.equal((await admit(delivery(message(), true), message(), d)).kind, 'run');
    assert.equal((await admit(delivery(message(), false, { [REPUBLISHED_HEADER]: true }), message(), d)).kind, 'run');
    assert.deepEqual(lookups, ['t1', 't1']);
  });

  it('a redelivered copy of a finished task is refused as finished', async () => {
    const admission = await admit(delivery(message(), true), message(), await deps(record({ state: 'SUCCESS', result: 3 })));
    assert.equal(admission.kind, 'finished');
  });

  it('an expired copy of a task running elsewhere under a live lease waits for the lease; finished is answered; otherwise REVOKED', async () => {
    // admit reads the clock itself: the lease and `expires` are set around the real now.
    const now = Date.now();
    const expired = message({ expires: new Date(now - 1_000).toISOString() });
    const running = record({ state: 'STARTED', leaseExpiresAt: new Date(now + 10_000), leaseHolder: 'w1/a' });
    const deferred = await admit(delivery(expired, true), expired, await deps(running));
    assert.equal(deferred.kind, 'running');
    assert.ok(deferred.kind === 'running' && deferred.leaseMs > 0 && deferred.holder === 'w1/a');
    const lapsed = record({ state: 'STARTED', leaseExpiresAt: new Date(now - 1) });
    assert.equal((await admit(delivery(expired, true), expired, await deps(lapsed))).kind, 'expired');
    assert.equal((await admit(delivery(expired, true), expired, await deps(record({ state: 'SUCCESS', result: 3 })))).kind, 'finished');
    assert.equal((await admit(delivery(expired), expired, await deps(undefined))).kind, 'expired');
  });

  it('an unknown name and invalid arguments are refused; valid ones run with the parsed arguments', async () => {
    const d = await deps(undefined);
    assert.equal((await admit(delivery(message()), message({ name: 'demo.nope' }), d)).kind, 'unknown-task');
    const invalid = await admit(delivery(message()), message({ args: ['x', 2] }), d);
    assert.equal(invalid.kind, 'invalid-arguments');
    const admitted = await admit(delivery(message()), message(), d);
    assert.ok(admitted.kind === 'run');
    assert.deepEqual([admitted.args, admitted.attempts, admitted.deliveries, admitted.cpuAppUrl], [[1, 2], 1, 1, undefined]);
  });
});

describe('pipeline: verdict', () => {
  it('a retryable failure retries while retries remain, then fails; a time limit never retries', async () => {
    const flaky = new Catalogue((await demoApp()).tasks).get('demo.flaky');
    assert.ok(flaky);
    const threw = { kind: 'threw', error: new RetryableError('later') } as const;
    assert.equal(judge(threw, flaky, message({ retries: 0 }), {}, undefined).kind, 'retry');
    assert.equal(judge(threw, flaky, message({ retries: 0 }), { headers: { [MAX_RETRIES_HEADER]: 0 } }, undefined).kind, 'failure');
    const limit = Object.assign(new Error('Time limit (1 s) exceeded'), { name: 'TimeLimitExceeded' });
    assert.equal(judge({ kind: 'threw', error: limit }, flaky, message(), {}, undefined).kind, 'failure');
  });

  it('a result is stored as JSON within the size limit; undefined becomes null', async () => {
    const add = new Catalogue((await demoApp()).tasks).get('demo.add');
    assert.ok(add);
    assert.deepEqual(judge({ kind: 'returned', value: undefined }, add, message(), {}, undefined), { kind: 'success', result: null });
    const big = judge({ kind: 'returned', value: 'x'.repeat(100) }, add, message(), {}, 10);
    assert.ok(big.kind === 'failure' && big.error.type === 'ResultTooLargeError');
    const bad = judge({ kind: 'returned', value: 10n }, add, message(), {}, undefined);
    assert.ok(bad.kind === 'failure' && bad.cause === 'unstorable');
  });
});
