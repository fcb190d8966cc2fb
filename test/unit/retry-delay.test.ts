/** Retry policy, backoff, delay levels, eta parsing and QUEUE_MAX_LENGTH parsing. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, PermanentError, RetryableError } from '../../shared/src/core/errors.js';
import { DEFAULT_RETRY_POLICY, isRetryable, retryDelayMs } from '../../shared/src/core/retry.js';
import { DELAY_LEVELS_MS, delayLevelFor, parseEta } from '../../shared/src/broker/delay.js';
import { mergeWrites } from '../../shared/src/store/task-writes.js';
import { parseQueueMaxLength } from '../../shared/src/config/parse.js';
import { retryPolicyOf } from '../../shared/src/app/catalogue.js';
import { demoApp } from '../helpers/demo.js';

describe('retry policy', () => {
  it('retries RetryableErrors, never PermanentErrors, others only with retryOn any', () => {
    const policy = DEFAULT_RETRY_POLICY;
    assert.equal(isRetryable(new RetryableError('x'), policy), true);
    assert.equal(isRetryable(new PermanentError('x'), policy), false);
    assert.equal(isRetryable(new Error('x'), policy), false);
    assert.equal(isRetryable(new Error('x'), { ...policy, retryOn: 'any' }), true);
    assert.equal(isRetryable(new PermanentError('x'), { ...policy, retryOn: 'any' }), false);
    // Across thread/process boundaries errors are plain objects: by name.
    assert.equal(isRetryable({ name: 'RetryableError', message: 'x' }, policy), true);
  });

  it('backoff doubles per retry, keeps at least half, adds at most half as jitter, and is capped', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, backoffMs: 1000, backoffMaxMs: 10_000 };
    assert.equal(retryDelayMs(policy, 0, () => 0), 500);
    assert.equal(retryDelayMs(policy, 0, () => 1), 1000);
    assert.equal(retryDelayMs(policy, 2, () => 0), 2000);
    assert.equal(retryDelayMs(policy, 2, () => 1), 4000);
    assert.equal(retryDelayMs(policy, 20, () => 1), 10_000);
    assert.equal(retryDelayMs(policy, 1000, () => 0.5), 7500);
  });

  it('a task’s policy is its own settings over the defaults', async () => {
    const flaky = retryPolicyOf((await demoApp()).tasks.find((t) => t.name === 'demo.flaky'));
    assert.equal(flaky.backoffMs, 200);
    assert.equal(flaky.maxRetries, DEFAULT_RETRY_POLICY.maxRetries);
    assert.deepEqual(retryPolicyOf(undefined), DEFAULT_RETRY_POLICY);
  });
});

describe('delay levels', () => {
  it('picks the largest level that fits, and the smallest for anything shorter', () => {
    assert.equal(delayLevelFor(0), 100);
    assert.equal(delayLevelFor(50), 100);
    assert.equal(delayLevelFor(100), 100);
    assert.equal(delayLevelFor(399), 200);
    assert.equal(delayLevelFor(1_500), 800);
    assert.equal(delayLevelFor(10 * 24 * 3600 * 1000), DELAY_LEVELS_MS.at(-1));
  });

  it('covers any delay greedily in at most one hop per level, never past the due time', () => {
    for (const target of [150, 1_500, 61_000, 3_600_000, 90_000_000]) {
      let remaining = target;
      let hops = 0;
      while (remaining >= 100) {
        remaining -= delayLevelFor(remaining);
        hops++;
      }
      assert.ok(remaining >= 0 && remaining < 100, `${target}: ${remaining} left`);
      assert.ok(hops <= DELAY_LEVELS_MS.length, `${target}: ${hops} hops`);
    }
  });

  it('reads Celery etas, naive ones as UTC', () => {
    assert.equal(parseEta('2026-11-22T10:00:00.123456+00:00'), Date.UTC(2026, 10, 22, 10, 0, 0, 123));
    assert.equal(parseEta('2026-11-22T10:00:00'), Date.UTC(2026, 10, 22, 10, 0, 0));
    assert.equal(parseEta('2026-11-22T12:00:00+02:00'), Date.UTC(2026, 10, 22, 10, 0, 0));
    assert.equal(parseEta(null), undefined);
    assert.equal(parseEta('tomorrow'), undefined);
  });
});

describe('QUEUE_MAX_LENGTH', () => {
  it('takes a default, per-queue values, or both', () => {
    assert.deepEqual(parseQueueMaxLength('Q', undefined), { default: 0, perQueue: {} });
    assert.deepEqual(parseQueueMaxLength('Q', '1000'), { default: 1000, perQueue: {} });
    assert.deepEqual(parseQueueMaxLength('Q', 'demo=10, reports=5,*=100'), { default: 100, perQueue: { demo: 10, reports: 5 } });
  });

  it('names the variable when a value is wrong', () => {
    assert.throws(() => parseQueueMaxLength('QUEUE_MAX_LENGTH', 'demo=lots'), (err: unknown) => err instanceof ConfigError && /QUEUE_MAX_LENGTH/.test(err.message));
    assert.throws(() => parseQueueMaxLength('QUEUE_MAX_LENGTH', 'amq.x=5'), /invalid queue name/);
  });
});

describe('attempt counters in merged writes', () => {
  const base = { id: 't', name: 'demo.add', queue: 'q' } as const;
  it('attempts only grow; deliveries restart with a new retry round', () => {
    const merged = mergeWrites({ ...base, state: 'STARTED', retries: 0, attempts: 2, deliveries: 2 }, { ...base, state: 'SUCCESS', retries: 0, attempts: 1, deliveries: 1 });
    assert.equal(merged.attempts, 2);
    assert.equal(merged.deliveries, 2);
    const retried = mergeWrites({ ...base, state: 'STARTED', retries: 0, attempts: 3, deliveries: 3 }, { ...base, state: 'STARTED', retries: 1, attempts: 4, deliveries: 1 });
    assert.equal(retried.attempts, 4);
    assert.equal(retried.deliveries, 1);
  });
});
