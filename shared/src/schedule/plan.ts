/**
 * Which runs of a schedule are due, and what the catch-up policy makes of them: pure, so the
 * leader's tick and the property tests share it. A run is "late" when the leader finds it more
 * than `lateMs` after its time (no leader at that moment: a failover, an outage, a pause of
 * the process); late runs follow the schedule's catch-up policy, runs older than its catch-up
 * window are missed and never fired.
 */
import { runsBetween, type ScheduleDefinition } from '../app/index.js';

/** What one tick does with one schedule. */
export interface RunPlan {
  /** Runs to fire now, oldest first. */
  fire: Date[];
  /** Runs within the window that the catch-up policy drops. */
  skipped: Date[];
  /** Runs older than the catch-up window (counted, at most `limit`). */
  missed: number;
  /** The latest run handled (fired, skipped or missed): where the next plan starts. Undefined: nothing handled. */
  handledUntil: Date | undefined;
}

export interface PlanOptions {
  /** A run found later than this after its time is late, in ms. */
  lateMs: number;
  /** Most runs enumerated in one plan; the rest wait for the next tick. @default 10_000 */
  limit?: number;
}

/**
 * The runs of `schedule` after `since` (the latest run handled, or when the schedule started
 * counting) up to `now`.
 */
export function planRuns(schedule: Pick<ScheduleDefinition, 'spec' | 'catchUp' | 'catchUpWindowMs'>, since: Date, now: Date, options: PlanOptions): RunPlan {
  const limit = options.limit ?? 10_000;
  const windowStart = new Date(now.getTime() - schedule.catchUpWindowMs);
  let missed = 0;
  let handledUntil: Date | undefined;
  let from = since;
  if (since.getTime() < windowStart.getTime()) {
    const old = runsBetween(schedule.spec, since, windowStart, limit);
    missed = old.runs.length;
    handledUntil = old.runs.at(-1);
    if (old.more) return { fire: [], skipped: [], missed, handledUntil };
    from = windowStart;
  }
  const { runs, more } = runsBetween(schedule.spec, from, now, limit);
  if (runs.length === 0) return { fire: [], skipped: [], missed, handledUntil };
  const isLate = (run: Date): boolean => now.getTime() - run.getTime() > options.lateMs;
  let fire: Date[];
  if (schedule.catchUp === 'all') fire = runs;
  else if (more) fire = []; // the latest run is further on: the next tick decides it
  else if (schedule.catchUp === 'once') fire = runs.slice(-1);
  else fire = runs.slice(-1).filter((run) => !isLate(run));
  const firing = new Set(fire.map((run) => run.getTime()));
  return { fire, skipped: runs.filter((run) => !firing.has(run.getTime())), missed, handledUntil: runs.at(-1) };
}
