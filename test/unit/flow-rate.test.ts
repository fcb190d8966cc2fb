/**
 * Keyed, fleet-wide rate limits without services: the `limit` text (`N/s`, `N/m`, `N/h`) and
 * defineTask refusing what does not parse, naming the task; the GCRA rule of
 * worker/src/flow/rate-gcra.ts as properties (no two starts of a key closer than their cost,
 * none inside a pause, the budget of any window); key and units functions that fail; how
 * RateLimitedError and ctx.backoff steer the verdict; and the per-key batching of reservations.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CelerityError, RateLimitedError, defineTask, z } from '../../index.js';
import { parseRateLimitSpec } from '../../shared/src/app/rate-limit-spec.js';
import { backoff, rateLimitedPauseS } from '../../shared/src/core/errors.js';
import { costMs, mustReserveAgain, pause, reserve, startsIn, RUN_NOW_TOLERANCE_MS, type RateState } from '../../worker/src/flow/rate-gcra.js';
import { flowInput, rateTicket } from '../../worker/src/flow/rate-key.js';
import { RateStore } from '../../worker/src/flow/rate-store.js';
import { judge } from '../../worker/src/pipeline/verdict.js';
import { newTaskMessage } from '../../shared/src/broker/protocol.js';
import { fromCrossedError, toCrossedError } from '../../worker/src/cpu-job.js';
import { Registry } from 'prom-client';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { WorkerMetrics } from '../../worker/src/metrics.js';

const UNIT_S = { s: 1, m: 60, h: 3_600 } as const;

describe('rate limits by key: the limit text', () => {
  it('reads N/s, N/m and N/h as units per second, for every positive whole N', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 999_999_999 }), fc.constantFrom('s', 'm', 'h' as const), (n, unit) => {
        assert.equal(parseRateLimitSpec(`${n}/${unit}`), n / UNIT_S[unit]);
      }),
    );
    assert.equal(parseRateLimitSpec('100/s'), 100);
    assert.equal(parseRateLimitSpec('20/m'), 20 / 60);
    assert.equal(parseRateLimitSpec('1000/h'), 1000 / 3600);
  });

  it('refuses anything else', () => {
    for (const bad of ['', '0/s', '-1/s', '1.5/s', '10', '10/d', '10/sec', ' 10/s', '10/s ', '10 /s', '/s', '01/s', 'ten/s', '1e3/s', '1234567890/s']) {
      assert.equal(parseRateLimitSpec(bad), undefined, bad);
    }
    fc.assert(
      fc.property(fc.string(), (text) => {
        const value = parseRateLimitSpec(text);
        assert.ok(value === undefined || /^[1-9]\d*\/[smh]$/.test(text), text);
      }),
    );
    for (const notText of [undefined, null, 10, {}, ['10/s']]) assert.equal(parseRateLimitSpec(notText), undefined);
  });

  it('defineTask refuses a rateLimit that does not parse, naming the task and the field', () => {
    const refused = (config: unknown, pattern: RegExp): void =>
      assert.throws(
        () => defineTask({ name: 'bills.send', run: () => 1, ...(config as object) }),
        (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_TASK_DEFINITION' && err.message.startsWith('defineTask("bills.send")') && pattern.test(err.message),
      );
    refused({ rateLimit: { limit: '100/sec' } }, /rateLimit\.limit must be N\/s, N\/m or N\/h .* got "100\/sec"/);
    refused({ rateLimit: { limit: 100 } }, /rateLimit\.limit must be/);
    refused({ rateLimit: '100/s' }, /rateLimit must be an object/);
    refused({ rateLimit: { limit: '100/s', key: 'customer' } }, /rateLimit\.key must be a function/);
    refused({ rateLimit: { limit: '100/s', units: 0 } }, /rateLimit\.units must be a positive number/);
    refused({ rateLimit: { limit: '100/s', units: Number.POSITIVE_INFINITY } }, /rateLimit\.units must be a positive number/);
    assert.throws(() => defineTask({ name: 'py.side', external: true, rateLimit: { limit: '1/s' } }), /external task cannot have a rateLimit/);
    const task = defineTask({ name: 'bills.send', input: z.object({ customer: z.string() }), rateLimit: { limit: '20/m', key: (input) => input.customer, units: 2 }, run: () => 1 });
    assert.equal(task.rateLimit?.perSecond, 1 / 3);
    assert.equal(task.rateLimit?.units, 2);
  });
});

describe('rate limits by key: the GCRA rule', () => {
  type Op = { kind: 'reserve'; advanceMs: number; costMs: number } | { kind: 'pause'; advanceMs: number; pauseMs: number };
  const ops = fc.array(
    fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('reserve' as const), advanceMs: fc.integer({ min: 0, max: 200 }), costMs: fc.double({ min: 0.1, max: 100, noNaN: true }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('pause' as const), advanceMs: fc.integer({ min: 0, max: 200 }), pauseMs: fc.integer({ min: 1, max: 2_000 }) }) },
    ),
    { maxLength: 60 },
  );

  /** Runs `ops` from time 0; the reservations made, with the pauses in force when each was made. */
  function play(list: Op[]): Array<{ atMs: number; nowMs: number; costMs: number; pausedUntilMs: number | null }> {
    let state: RateState | undefined;
    let nowMs = 0;
    const made = [];
    for (const op of list) {
      nowMs += op.advanceMs;
      if (op.kind === 'pause') {
        state = pause(state, nowMs, op.pauseMs);
        continue;
      }
      const r = reserve(state, nowMs, op.costMs);
      made.push({ atMs: r.reservedAtMs, nowMs, costMs: op.costMs, pausedUntilMs: state?.pausedUntilMs ?? null });
      state = r.state;
    }
    return made;
  }

  it('never reserves before now or inside a pause, and spaces starts by at least their cost, in the order asked', () => {
    fc.assert(
      fc.property(ops, (list) => {
        const made = play(list);
        for (const [i, r] of made.entries()) {
          assert.ok(r.atMs >= r.nowMs, 'not before now');
          assert.ok(r.pausedUntilMs === null || r.atMs >= r.pausedUntilMs, 'not inside a pause');
          const previous = made[i - 1];
          if (previous) assert.ok(r.atMs >= previous.atMs + previous.costMs - 1e-9, 'at least the previous cost later');
        }
      }),
    );
  });

  it('spends at most the budget of any window: units reserved in [t, t + w) cost at most w plus one task', () => {
    fc.assert(
      fc.property(ops, fc.integer({ min: 1, max: 5_000 }), (list, windowMs) => {
        const made = play(list);
        for (const start of made) {
          const inside = made.filter((r) => r.atMs >= start.atMs && r.atMs < start.atMs + windowMs);
          const spent = inside.reduce((sum, r) => sum + r.costMs, 0);
          const largest = Math.max(...inside.map((r) => r.costMs));
          assert.ok(spent <= windowMs + largest + 1e-6, `${spent} ms of budget in a ${windowMs} ms window`);
        }
      }),
    );
  });

  it('a key that has been idle runs its next task at once; a pause only ever grows', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), fc.double({ min: 0.1, max: 1e4, noNaN: true }), (nextAt, idle, cost) => {
        assert.equal(reserve({ nextAtMs: nextAt, pausedUntilMs: null }, nextAt + idle, cost).reservedAtMs, nextAt + idle);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 1e5 }), fc.integer({ min: 1, max: 1e5 }), (now, first, second) => {
        const once = pause(undefined, now, first);
        const twice = pause(once, now, second);
        assert.equal(twice.pausedUntilMs, now + Math.max(first, second));
        assert.ok(twice.nextAtMs >= (twice.pausedUntilMs ?? 0));
      }),
    );
  });

  it('costs units / rate; waits below the tolerance run now; a held reservation stands unless a pause passed it', () => {
    assert.equal(costMs(1, 50), 20);
    assert.equal(costMs(3, 0.5), 6_000);
    assert.equal(startsIn(1_000 + RUN_NOW_TOLERANCE_MS, 1_000), 0);
    assert.equal(startsIn(1_000.4 + RUN_NOW_TOLERANCE_MS, 1_000), 6);
    assert.equal(startsIn(900, 1_000), 0);
    assert.equal(mustReserveAgain(1_000, null), false);
    assert.equal(mustReserveAgain(1_000, 1_000), false);
    assert.equal(mustReserveAgain(1_000, 1_001), true);
  });
});

describe('rate limits by key: key and units functions', () => {
  const positional = { style: 'args' as const, rateLimit: { limit: '1/s', perSecond: 1, key: (input: unknown) => (input as { args: string[] }).args[0] as string } };

  it('give a one-object task its input and a positional one { args, kwargs }', () => {
    assert.deepEqual(flowInput({ style: 'input' }, [], { a: 1 }), { a: 1 });
    assert.deepEqual(flowInput({ style: 'args' }, [1], { b: 2 }), { args: [1], kwargs: { b: 2 } });
    assert.deepEqual(rateTicket(positional, ['acme'], {}), { ok: true, key: 'acme', units: 1 });
    assert.deepEqual(rateTicket({ style: 'args' }, [], {}), { ok: true, key: '', units: 1 }, 'no rateLimit: the type as a whole');
    assert.deepEqual(rateTicket({ style: 'args', rateLimit: { limit: '1/s', perSecond: 1 } }, [], {}), { ok: true, key: '', units: 1 }, 'no key: the type as a whole');
    const units = { style: 'input' as const, rateLimit: { limit: '1/s', perSecond: 1, units: (input: unknown) => (input as { n: number }).n } };
    assert.deepEqual(rateTicket(units, [], { n: 4 }), { ok: true, key: '', units: 4 });
  });

  it('a key function that throws, or returns a non-string, an over-long string or one the store cannot hold, says so', () => {
    const ticket = (key: (input: unknown) => unknown): ReturnType<typeof rateTicket> =>
      rateTicket({ style: 'input', rateLimit: { limit: '1/s', perSecond: 1, key: key as (input: unknown) => string } }, [], {});
    assert.deepEqual(ticket(() => {
      throw new Error('boom');
    }), { ok: false, reason: 'rateLimit.key threw: boom' });
    assert.deepEqual(ticket(() => 42), { ok: false, reason: 'rateLimit.key must return a string, got number' });
    assert.deepEqual(ticket(() => null), { ok: false, reason: 'rateLimit.key must return a string, got null' });
    assert.deepEqual(ticket(() => 'x'.repeat(201)), { ok: false, reason: 'rateLimit.key returned 201 characters; at most 200 are allowed' });
    assert.equal(ticket(() => 'x'.repeat(200)).ok, true);
    assert.equal(ticket(() => 'a\u0000b').ok, false);
    const units = (value: unknown): ReturnType<typeof rateTicket> =>
      rateTicket({ style: 'input', rateLimit: { limit: '1/s', perSecond: 1, units: () => value as number } }, [], {});
    for (const bad of [0, -1, Number.NaN, '2']) assert.equal(units(bad).ok, false, String(bad));
  });
});

describe('rate limits by key: pausing from a task', () => {
  const definition = defineTask({ name: 'pay.charge', retry: { maxRetries: 5, retryOn: 'any' }, run: () => 1 });
  const message = newTaskMessage({ id: 't1', name: 'pay.charge', args: [], kwargs: {} });

  it('RateLimitedError and ctx.backoff are a pause, not a failure nor a retry, even when any error is retried', () => {
    const thrown = (fn: () => never): Error => {
      try {
        fn();
      } catch (err) {
        return err as Error;
      }
      assert.fail('did not throw');
    };
    assert.deepEqual(judge({ kind: 'threw', error: thrown(() => backoff(2)) }, definition, message, {}, undefined), { kind: 'backoff', pauseS: 2 });
    assert.deepEqual(judge({ kind: 'threw', error: new RateLimitedError({ retryAfterS: 0.5 }) }, definition, message, {}, undefined), { kind: 'backoff', pauseS: 0.5 });
    // A CPU task's error crosses the thread as plain fields: the pause still comes through.
    const crossed = fromCrossedError(toCrossedError(new RateLimitedError({ retryAfterS: 7 })));
    assert.equal(rateLimitedPauseS(crossed), 7);
    assert.equal(judge({ kind: 'threw', error: new Error('x') }, definition, message, {}, undefined).kind, 'retry');
  });

  it('refuses a pause that is not a positive number of seconds', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => new RateLimitedError({ retryAfterS: bad }), TypeError);
    assert.throws(() => backoff(0), TypeError);
  });
});

describe('rate limits by key: reservations batched per key', () => {
  it('reservations asked while one is in flight go in the next statement, shared out in the order asked', async () => {
    const statements: Array<{ key: string; costMs: number }> = [];
    const releases: Array<() => void> = [];
    const NOW = 1_000_000;
    /** Each key's next_at, as the statement would keep it (the fake database's clock stands still at NOW). */
    const nextAt = new Map<string, number>();
    const db = {
      query: async (config: { values: unknown[] }) => {
        const [, key, costMs] = config.values as [string, string, number];
        statements.push({ key, costMs });
        await new Promise<void>((resolve) => releases.push(resolve));
        const reservedAt = Math.max(nextAt.get(key) ?? NOW, NOW);
        nextAt.set(key, reservedAt + costMs);
        return { rows: [{ reserved_at: new Date(reservedAt), now: new Date(NOW) }] };
      },
    };
    const store = new RateStore(db as never);
    const first = store.reserve('t', 'a', 10, undefined);
    const more = [store.reserve('t', 'a', 20, undefined), store.reserve('t', 'a', 30, undefined), store.reserve('t', 'b', 5, undefined)];
    assert.deepEqual(statements, [{ key: 'a', costMs: 10 }, { key: 'b', costMs: 5 }], 'a second key is not held back by the first');
    releases.shift()?.();
    assert.equal((await first)?.inMs, 0);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(statements.at(-1), { key: 'a', costMs: 50 }, 'the two waiting reservations of key a in one statement');
    for (const release of releases.splice(0)) release();
    const [second, third, other] = await Promise.all(more);
    assert.equal(second?.inMs, 10, 'after the first reservation of key a');
    assert.equal(third?.inMs, 30, 'after the second');
    assert.equal(other?.inMs, 0, 'key b has its own budget');
  });
});

describe('rate limits by key: metrics', () => {
  it('each task has its deferred and paused series at 0 from start-up', async () => {
    const metrics = new WorkerMetrics(new Registry());
    metrics.startAtZero(new Catalogue([defineTask({ name: 'pay.charge', queue: 'pay', run: () => 1 })]), ['pay'], 4);
    const text = await metrics.registry.metrics();
    assert.match(text, /^celerity_rate_limit_deferred_total\{task="pay\.charge"\} 0$/m);
    assert.match(text, /^celerity_rate_limit_paused_total\{task="pay\.charge"\} 0$/m);
  });
});
