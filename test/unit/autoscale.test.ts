/**
 * Autoscaling: the decision rule's guarantees as properties (never outside [min, max], grows
 * only under a backlog, shrinks only after a whole idle cool-down and never below what is
 * held), the loop around it on a fake clock and fake queue counts, the one owner of the
 * concurrency (range check, gauge, log), and `--autoscale` / WORKER_AUTOSCALE parsing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Counter, Gauge, Registry } from 'prom-client';
import { ConfigError } from '../../shared/src/core/errors.js';
import { loadWorkerConfig } from '../../shared/src/config/load.js';
import { decide, type AutoscaleSample } from '../../worker/src/autoscale/decide.js';
import { Autoscaler } from '../../worker/src/autoscale/autoscaler.js';
import { Concurrency } from '../../worker/src/autoscale/concurrency.js';
import { Slots, type Release } from '../../shared/src/core/slots.js';
import { captureLogger } from '../helpers/harness.js';

const bounds = fc
  .tuple(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 200 }))
  .map(([a, b]) => ({ min: Math.min(a, b), max: Math.max(a, b) }));
const sample: fc.Arbitrary<AutoscaleSample> = fc.record({
  concurrency: fc.integer({ min: 1, max: 300 }),
  ready: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10_000 })),
  inFlight: fc.integer({ min: 0, max: 300 }),
  idleForMs: fc.integer({ min: 0, max: 120_000 }),
});
const coolDownMs = fc.integer({ min: 0, max: 60_000 });

function next(concurrency: number, decision: ReturnType<typeof decide>): number {
  return decision.kind === 'stay' ? concurrency : decision.to;
}

describe('autoscale: the decision rule', () => {
  it('never leaves [min, max] (a value outside is brought back inside)', () => {
    fc.assert(
      fc.property(bounds, sample, coolDownMs, (b, s, cool) => {
        const to = next(s.concurrency, decide(b, s, cool));
        assert.ok(to >= b.min && to <= b.max, `${to} outside [${b.min}, ${b.max}]`);
      }),
    );
  });

  it('grows only while messages are ready, shrinks only after a whole cool-down without any', () => {
    fc.assert(
      fc.property(bounds, sample, coolDownMs, (b, s, cool) => {
        fc.pre(s.concurrency >= b.min && s.concurrency <= b.max);
        const decision = decide(b, s, cool);
        const to = next(s.concurrency, decision);
        if (to > s.concurrency) assert.ok(s.ready > 0 && decision.kind === 'grow' && decision.reason === 'backlog');
        if (to < s.concurrency) {
          assert.ok(s.ready === 0 && s.idleForMs >= cool && decision.kind === 'shrink' && decision.reason === 'idle');
          // Running tasks keep their slots: it shrinks to what is held, at most.
          assert.ok(to >= Math.min(s.inFlight, s.concurrency));
        }
      }),
    );
  });

  it('a backlog beyond the free slots grows it (up to max) to what is held plus what waits', () => {
    fc.assert(
      fc.property(bounds, sample, coolDownMs, (b, s, cool) => {
        fc.pre(s.concurrency >= b.min && s.concurrency < b.max && s.ready > 0 && s.inFlight + s.ready > s.concurrency);
        assert.deepEqual(decide(b, s, cool), { kind: 'grow', to: Math.min(b.max, s.inFlight + s.ready), reason: 'backlog' });
      }),
    );
  });

  it('idle past the cool-down with nothing held, it goes back to min', () => {
    fc.assert(
      fc.property(bounds, fc.integer({ min: 1, max: 300 }), coolDownMs, (b, concurrency, cool) => {
        fc.pre(concurrency > b.min && concurrency <= b.max);
        assert.deepEqual(decide(b, { concurrency, ready: 0, inFlight: 0, idleForMs: cool }, cool), { kind: 'shrink', to: b.min, reason: 'idle' });
      }),
    );
  });
});

function control(initial: number): { concurrency: Concurrency; applied: number[]; gauge: Gauge<'queue'>; capture: ReturnType<typeof captureLogger>['capture'] } {
  const { logger, capture } = captureLogger('worker');
  const applied: number[] = [];
  const gauge = new Gauge({ name: 'test_concurrency', help: 'test', labelNames: ['queue'], registers: [new Registry()] });
  const concurrency = new Concurrency({ initial, apply: (n) => applied.push(n), queues: () => ['a', 'b'], gauge, logger });
  return { concurrency, applied, gauge, capture };
}

describe('autoscale: the concurrency owner', () => {
  it('applies a change to the consumer, the gauge of every queue and the log; refuses values outside 1..10000', async () => {
    const { concurrency, applied, gauge, capture } = control(4);
    assert.equal(concurrency.set(4, 'resize'), false);
    assert.equal(concurrency.set(9, 'resize'), true);
    assert.equal(concurrency.value, 9);
    assert.deepEqual(applied, [9]);
    const values = (await gauge.get()).values.map((v) => [v.labels.queue, v.value]);
    assert.deepEqual(values, [['a', 9], ['b', 9]]);
    const line = capture.entries.find((e) => e.message === 'concurrency 4 → 9 (resize)');
    assert.ok(line);
    assert.equal(line.from, 4);
    assert.equal(line.to, 9);
    for (const bad of [0, -1, 10_001, 2.5, Number.NaN]) assert.throws(() => concurrency.set(bad, 'resize'), RangeError);
    assert.equal(concurrency.value, 9);
  });
});

describe('autoscale: the slot gate follows a resize (quorum queues)', () => {
  it('grants a new slot only below the current size, never takes one back, and serves every waiter', async () => {
    const op = fc.oneof(fc.constant('arrive' as const), fc.constant('release' as const), fc.integer({ min: 1, max: 6 }));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 80 }), async (initial, ops) => {
        const slots = new Slots(initial);
        const holders: Release[] = [];
        const waiters: Promise<void>[] = [];
        const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
        for (const step of ops) {
          const before = holders.length;
          if (step === 'arrive') waiters.push(slots.acquire().then((release) => void holders.push(release)));
          else if (step === 'release') holders.shift()?.();
          else slots.resize(step);
          await settle();
          if (holders.length > before) assert.ok(holders.length <= slots.size, `${holders.length} held with ${slots.size} slots`);
        }
        // Everything released: every waiter gets its turn.
        while (holders.length > 0 || slots.waiting > 0) {
          holders.shift()?.();
          await settle();
        }
        await Promise.all(waiters);
        assert.equal(slots.held, 0);
      }),
      { numRuns: 60 },
    );
  });
});

describe('autoscale: the loop', () => {
  it('grows under a backlog, waits out the cool-down, shrinks back to min; a failed count changes nothing', async () => {
    const { concurrency, applied } = control(1);
    const { logger, capture } = captureLogger('worker');
    const registry = new Registry();
    const decisions = new Counter({ name: 'test_decisions', help: 'test', labelNames: ['direction', 'reason'], registers: [registry] });
    let now = 0;
    let ready: number | Error = 10;
    let inFlight = 0;
    const seen: (readonly string[])[] = [];
    let queues = ['q1'];
    const scaler = new Autoscaler({
      bounds: { max: 4, min: 1 },
      coolDownMs: 5_000,
      concurrency,
      queues: () => queues,
      inFlight: () => inFlight,
      countReady: (qs) => {
        seen.push(qs);
        return ready instanceof Error ? Promise.reject(ready) : Promise.resolve(ready);
      },
      decisions,
      logger,
      now: () => now,
    });
    assert.deepEqual(await scaler.tick(), { kind: 'grow', to: 4, reason: 'backlog' });
    assert.equal(concurrency.value, 4);
    inFlight = 4;
    ready = 0;
    now = 4_999;
    assert.deepEqual(await scaler.tick(), { kind: 'stay' });
    // A queue added at run time is counted from the next tick.
    queues = ['q1', 'q2'];
    ready = new Error('no broker connection');
    now = 20_000;
    assert.equal(await scaler.tick(), undefined);
    assert.equal(await scaler.tick(), undefined);
    assert.equal(capture.entries.filter((e) => String(e.message).startsWith('autoscale: cannot count')).length, 1);
    ready = 0;
    inFlight = 2;
    assert.deepEqual(await scaler.tick(), { kind: 'shrink', to: 2, reason: 'idle' });
    inFlight = 0;
    assert.deepEqual(await scaler.tick(), { kind: 'shrink', to: 1, reason: 'idle' });
    assert.deepEqual(applied, [4, 2, 1]);
    assert.deepEqual(seen.at(-1), ['q1', 'q2']);
    const counts = (await decisions.get()).values.map((v) => `${v.labels.direction}/${v.labels.reason}=${v.value}`).sort();
    assert.deepEqual(counts, ['grow/backlog=1', 'shrink/idle=2']);
    await scaler.stop();
  });

  it('an operator resize widens the bounds, so the next tick does not undo it', async () => {
    const { concurrency } = control(2);
    const { logger } = captureLogger('worker');
    const decisions = new Counter({ name: 'test_decisions', help: 'test', labelNames: ['direction', 'reason'], registers: [new Registry()] });
    let now = 0;
    const scaler = new Autoscaler({ bounds: { max: 4, min: 2 }, coolDownMs: 1_000, concurrency, queues: () => ['q'], inFlight: () => 0, countReady: () => Promise.resolve(0), decisions, logger, now: () => now });
    concurrency.set(8, 'resize');
    scaler.widen(8);
    assert.deepEqual(scaler.bounds, { max: 8, min: 2 });
    assert.deepEqual(await scaler.tick(), { kind: 'stay' });
    now = 1_000;
    assert.deepEqual(await scaler.tick(), { kind: 'shrink', to: 2, reason: 'idle' });
    await scaler.stop();
  });
});

describe('autoscale: configuration', () => {
  const defaults = { queues: ['demo'], cpus: 2 };
  it('reads max,min from --autoscale or WORKER_AUTOSCALE (the flag wins; a lone max means min 1)', () => {
    assert.deepEqual(loadWorkerConfig({ WORKER_AUTOSCALE: '10,3' }, {}, defaults).autoscale, { max: 10, min: 3 });
    assert.deepEqual(loadWorkerConfig({ WORKER_AUTOSCALE: '10,3' }, { autoscale: '6, 2' }, defaults).autoscale, { max: 6, min: 2 });
    assert.deepEqual(loadWorkerConfig({}, { autoscale: '5' }, defaults).autoscale, { max: 5, min: 1 });
    assert.equal(loadWorkerConfig({}, {}, defaults).autoscale, undefined);
  });

  it('refuses anything else, naming the setting', () => {
    for (const [value, variable, flags] of [
      ['3,10', 'WORKER_AUTOSCALE', {}],
      ['0,0', 'WORKER_AUTOSCALE', {}],
      ['10,0', 'WORKER_AUTOSCALE', {}],
      ['10001,1', 'WORKER_AUTOSCALE', {}],
      ['ten', 'WORKER_AUTOSCALE', {}],
      ['4,2,1', 'WORKER_AUTOSCALE', {}],
      ['', '--autoscale', { autoscale: '' }],
    ] as const) {
      assert.throws(
        () => loadWorkerConfig({ WORKER_AUTOSCALE: value }, flags, defaults),
        (err: unknown) => err instanceof ConfigError && err.variable === variable && err.message.includes('max,min'),
        `${variable}=${value}`,
      );
    }
  });
});
