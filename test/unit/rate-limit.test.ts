/**
 * Per-worker task rate limits (Worker.setRateLimit, Celery's rate_limit): the text Celery
 * sends (`10/s`, `100/m`, `1000/h`, a bare number), the token bucket's bound on starts in any
 * window (a property), and the waits: delayed, woken by a changed or removed limit, sent back
 * to the queue when the worker stops.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CelerityError } from '../../shared/src/core/errors.js';
import { parseRateLimit } from '../../worker/src/rate-limit/parse-rate.js';
import { TokenBucket } from '../../worker/src/rate-limit/token-bucket.js';
import { RateLimits } from '../../worker/src/rate-limit/rate-limits.js';
import { TaskInterruptedError } from '../../worker/src/pipeline/types.js';
import { captureLogger } from '../helpers/harness.js';

function isCode(code: string): (err: unknown) => boolean {
  return (err) => err instanceof CelerityError && err.code === code;
}

describe('rate limits: parsing', () => {
  it("reads Celery's forms as starts per second (0 = no limit)", () => {
    assert.equal(parseRateLimit('10/s'), 10);
    assert.equal(parseRateLimit('120/m'), 2);
    assert.equal(parseRateLimit('1800/h'), 0.5);
    assert.equal(parseRateLimit('5'), 5);
    assert.equal(parseRateLimit('0.5/s'), 0.5);
    assert.equal(parseRateLimit(' 3/m '), 0.05);
    assert.equal(parseRateLimit('0/m'), 0);
  });

  it('refuses anything else with INVALID_RATE_LIMIT', () => {
    for (const bad of ['', 'fast', '10/d', '-1/s', '10/', '/s', '1e3/s', '10 / s', 'Infinity', '10/s/s']) {
      assert.throws(() => parseRateLimit(bad), isCode('INVALID_RATE_LIMIT'), bad);
    }
  });
});

describe('rate limits: the token bucket', () => {
  it('in any window of W ms it grants at most 1 + W × rate starts at once or later', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 1000, noNaN: true }),
        fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 60 }),
        (perSecond, gaps) => {
          const bucket = new TokenBucket(perSecond);
          let now = 0;
          const starts: number[] = [];
          for (const gap of gaps) {
            now += gap;
            const wait = bucket.reserve(now);
            assert.ok(wait >= 0);
            starts.push(now + wait);
          }
          const intervalMs = 1000 / perSecond;
          // Starts come in the order asked, spaced at least one interval apart.
          for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! - starts[i - 1]! >= intervalMs - 1e-6);
        },
      ),
    );
  });

  it('an idle bucket lets the next start go at once', () => {
    const bucket = new TokenBucket(1);
    assert.equal(bucket.reserve(0), 0);
    assert.equal(bucket.reserve(0), 1000);
    assert.equal(bucket.reserve(5_000), 0);
    assert.throws(() => new TokenBucket(0), RangeError);
  });
});

function limits(): { limits: RateLimits; delayed: string[]; capture: ReturnType<typeof captureLogger>['capture'] } {
  const { logger, capture } = captureLogger('worker');
  const delayed: string[] = [];
  const limits = new RateLimits({ knows: (task) => task.startsWith('demo.'), logger, onDelayed: (task) => delayed.push(task) });
  return { limits, delayed, capture };
}

const headers = (task: string): Record<string, unknown> => ({ task, id: 'x' });

describe('rate limits: waiting before a start', () => {
  it('refuses bad rates and unknown tasks with their codes', () => {
    const { limits: l } = limits();
    assert.throws(() => l.set('demo.add', '10 per second'), isCode('INVALID_RATE_LIMIT'));
    assert.throws(() => l.set('other.task', '10/s'), isCode('UNKNOWN_TASK'));
    assert.equal(l.perSecond('demo.add'), undefined);
  });

  it('delays the second start within the interval; removing the limit lets it start at once', async () => {
    const { limits: l, delayed, capture } = limits();
    const signal = new AbortController().signal;
    l.set('demo.add', '1/h');
    assert.equal(l.perSecond('demo.add'), 1 / 3600);
    assert.ok(capture.entries.some((e) => e.message === 'task rate limit set' && e.task === 'demo.add'));
    await l.beforeStart(headers('demo.add'), signal);
    // Other tasks and messages without a task name are not limited.
    await l.beforeStart(headers('demo.echo'), signal);
    await l.beforeStart(undefined, signal);
    let started = false;
    const second = l.beforeStart(headers('demo.add'), signal).then(() => (started = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(started, false);
    assert.deepEqual(delayed, ['demo.add']);
    l.set('demo.add', null);
    await second;
    assert.equal(started, true);
    assert.ok(capture.entries.some((e) => e.message === 'task rate limit removed'));
  });

  it('a waiting start returns when its delivery is aborted, and is interrupted when the worker stops', async () => {
    const { limits: l } = limits();
    l.set('demo.add', '1/h');
    await l.beforeStart(headers('demo.add'), new AbortController().signal);
    const abort = new AbortController();
    const aborted = l.beforeStart(headers('demo.add'), abort.signal);
    abort.abort();
    await aborted;
    const waiting = l.beforeStart(headers('demo.add'), new AbortController().signal);
    l.close();
    await assert.rejects(waiting, TaskInterruptedError);
    await assert.rejects(l.beforeStart(headers('demo.echo'), new AbortController().signal), TaskInterruptedError);
  });
});
