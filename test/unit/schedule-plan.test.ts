/**
 * Property tests of the next-run computation and the catch-up policies (shared/src/schedule/plan.ts):
 * a leader ticking at arbitrary moments, with arbitrary gaps (a failover, an outage), fires each
 * run at most once; with catchUp 'all' every run within the window exactly once; with 'once' the
 * latest due run of each tick; with 'skip' only runs it finds on time; never a run older than the window.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nextRunAfter, parseScheduleSpec, runsBetween, type ScheduleSpec } from '../../shared/src/app/schedule-spec.js';
import { planRuns } from '../../shared/src/schedule/plan.js';

const T0 = Date.UTC(2026, 0, 1);
const specs = fc.oneof(
  fc.constantFrom('1s', '2s', '10s', '1m', '7s').map((every) => parseScheduleSpec('p', { every })),
  fc.constantFrom('*/3 * * * * *', '0,30 * * * * *', '*/1 * * * *').map((cron) => parseScheduleSpec('p', { cron })),
);
/** A leader's ticks: gaps from a few ms to several minutes (failovers). */
const gaps = fc.array(fc.oneof(fc.integer({ min: 1, max: 1_500 }), fc.integer({ min: 1_500, max: 400_000 })), { minLength: 1, maxLength: 40 });

interface Sim {
  fired: number[];
  perTick: Array<{ now: number; fire: number[]; due: number[] }>;
}

function simulate(spec: ScheduleSpec, catchUp: 'once' | 'all' | 'skip', windowMs: number, lateMs: number, ticks: number[]): Sim {
  let since = new Date(T0);
  const fired: number[] = [];
  const perTick: Sim['perTick'] = [];
  let now = T0;
  for (const gap of ticks) {
    now += gap;
    const due = runsBetween(spec, new Date(Math.max(since.getTime(), now - windowMs)), new Date(now), 100_000).runs.map((d) => d.getTime());
    const plan = planRuns({ spec, catchUp, catchUpWindowMs: windowMs }, since, new Date(now), { lateMs, limit: 100_000 });
    const fire = plan.fire.map((d) => d.getTime());
    fired.push(...fire);
    perTick.push({ now, fire, due });
    if (plan.handledUntil) since = plan.handledUntil;
  }
  return { fired, perTick };
}

describe('next run', () => {
  it('is strictly after the given time, and no run lies between', () => {
    fc.assert(
      fc.property(specs, fc.integer({ min: 0, max: 10 * 86_400_000 }), (spec, offset) => {
        const after = new Date(T0 + offset);
        const next = nextRunAfter(spec, after);
        assert.ok(next && next.getTime() > after.getTime());
        // Nothing in (after, next): the next of one ms before `next` is `next` itself.
        assert.equal(nextRunAfter(spec, new Date(Math.max(after.getTime(), next.getTime() - 1)))?.getTime(), next.getTime());
        if (spec.kind === 'every') assert.equal(next.getTime() % spec.everyMs, 0);
      }),
    );
  });

  it('lists a range as consecutive next runs, oldest first', () => {
    fc.assert(
      fc.property(specs, fc.integer({ min: 0, max: 86_400_000 }), fc.integer({ min: 0, max: 600_000 }), (spec, offset, length) => {
        const after = new Date(T0 + offset);
        const until = new Date(after.getTime() + length);
        const { runs } = runsBetween(spec, after, until, 100_000);
        let cursor = after;
        for (const run of runs) {
          assert.equal(run.getTime(), nextRunAfter(spec, cursor)?.getTime());
          cursor = run;
        }
        const beyond = nextRunAfter(spec, cursor);
        assert.ok(!beyond || beyond.getTime() > until.getTime());
      }),
    );
  });
});

describe('catch-up', () => {
  it("'all' fires every run within the window exactly once, however the ticks fall", () => {
    fc.assert(
      fc.property(specs, gaps, (spec, ticks) => {
        const windowMs = 3_600_000; // longer than any gap: nothing is missed
        const { fired, perTick } = simulate(spec, 'all', windowMs, 2_000, ticks);
        const last = perTick.at(-1)?.now ?? T0;
        assert.deepEqual(fired, runsBetween(spec, new Date(T0), new Date(last), 1_000_000).runs.map((d) => d.getTime()));
      }),
    );
  });

  it("'once' fires the latest due run of each tick, and never a run twice", () => {
    fc.assert(
      fc.property(specs, gaps, (spec, ticks) => {
        const { fired, perTick } = simulate(spec, 'once', 3_600_000, 2_000, ticks);
        assert.equal(new Set(fired).size, fired.length);
        for (const tick of perTick) assert.deepEqual(tick.fire, tick.due.slice(-1));
      }),
    );
  });

  it("'skip' fires only runs found on time, never a run twice", () => {
    fc.assert(
      fc.property(specs, gaps, fc.integer({ min: 100, max: 5_000 }), (spec, ticks, lateMs) => {
        const { fired, perTick } = simulate(spec, 'skip', 3_600_000, lateMs, ticks);
        assert.equal(new Set(fired).size, fired.length);
        for (const tick of perTick) {
          assert.ok(tick.fire.length <= 1);
          for (const run of tick.fire) assert.ok(tick.now - run <= lateMs);
        }
      }),
    );
  });

  it('never fires a run older than the window', () => {
    fc.assert(
      fc.property(specs, gaps, fc.constantFrom<'once' | 'all' | 'skip'>('once', 'all', 'skip'), fc.integer({ min: 1_000, max: 120_000 }), (spec, ticks, catchUp, windowMs) => {
        const { perTick } = simulate(spec, catchUp, windowMs, 2_000, ticks);
        for (const tick of perTick) for (const run of tick.fire) assert.ok(tick.now - run <= windowMs);
      }),
    );
  });
});
