/**
 * When a schedule runs: `every` (a duration, runs at whole multiples of it since the Unix epoch,
 * so every process computes the same times whatever its start) or `cron` (5 or 6 fields, parsed
 * by croner, in a time zone). Pure: the scheduler, the gateway's listing and the tests use the
 * same `nextRunAfter`.
 */
import { Cron } from 'croner';
import { CelerityError } from '../core/index.js';

/** A schedule's times, parsed. */
export type ScheduleSpec = { kind: 'every'; every: string; everyMs: number } | { kind: 'cron'; cron: string; timezone?: string };

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** What `every` (and a catch-up window) accepts: an integer and a unit. */
export const DURATION_RULE = "a whole number and a unit: ms, s, m, h or d (e.g. '1s', '10s', '5m', '1h')";
/** The shortest `every`: runs are fired by a loop that wakes at least every second. */
const MIN_EVERY_MS = 1_000;

/** A duration such as '10s' in milliseconds; undefined when it does not parse. */
export function parseDuration(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

function refuse(schedule: string, message: string): never {
  throw new CelerityError('INVALID_SCHEDULE', `schedule "${schedule}": ${message}`);
}

function cronOf(cron: string, timezone: string | undefined): Cron {
  return new Cron(cron, { ...(timezone ? { timezone } : {}), paused: true });
}

/**
 * Parses `every` or `cron` (exactly one) of schedule `schedule`; throws `INVALID_SCHEDULE`
 * naming the schedule and the field when it does not parse.
 */
export function parseScheduleSpec(schedule: string, given: { every?: unknown; cron?: unknown; timezone?: unknown }): ScheduleSpec {
  const { every, cron, timezone } = given;
  if ((every === undefined) === (cron === undefined)) refuse(schedule, 'give exactly one of every or cron');
  if (timezone !== undefined && (typeof timezone !== 'string' || timezone === '')) refuse(schedule, 'timezone must be an IANA time zone name such as "Europe/Paris"');
  if (every !== undefined) {
    if (timezone !== undefined) refuse(schedule, 'timezone applies to cron only; every counts from the Unix epoch');
    const everyMs = parseDuration(every);
    if (everyMs === undefined) refuse(schedule, `every must be ${DURATION_RULE}, got ${JSON.stringify(every)}`);
    if (everyMs < MIN_EVERY_MS) refuse(schedule, `every must be at least 1s, got ${JSON.stringify(every)}`);
    return { kind: 'every', every: (every as string).trim(), everyMs };
  }
  if (typeof cron !== 'string') refuse(schedule, 'cron must be a string of 5 or 6 fields');
  const fields = cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) refuse(schedule, `cron must have 5 fields (minute hour day month weekday) or 6 (seconds first), got ${fields}: "${cron}"`);
  try {
    // A time zone is only checked when a date is converted: compute one run now.
    cronOf(cron, timezone).nextRun(new Date());
  } catch (err) {
    refuse(schedule, `cron "${cron}" does not parse${timezone ? ` in time zone "${String(timezone)}"` : ''}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { kind: 'cron', cron: cron.trim(), ...(typeof timezone === 'string' ? { timezone } : {}) };
}

/** The first run strictly after `after`; undefined when a cron expression has no more runs. */
export function nextRunAfter(spec: ScheduleSpec, after: Date): Date | undefined {
  if (spec.kind === 'every') return new Date((Math.floor(after.getTime() / spec.everyMs) + 1) * spec.everyMs);
  return cronOf(spec.cron, spec.timezone).nextRun(after) ?? undefined;
}

/**
 * The runs in `(after, until]`, oldest first, at most `limit` of them (`more` says some were left
 * out: the caller continues from the last one).
 */
export function runsBetween(spec: ScheduleSpec, after: Date, until: Date, limit: number): { runs: Date[]; more: boolean } {
  const runs: Date[] = [];
  let cursor = after;
  for (;;) {
    const next = nextRunAfter(spec, cursor);
    if (next === undefined || next.getTime() > until.getTime()) return { runs, more: false };
    if (runs.length === limit) return { runs, more: true };
    runs.push(next);
    cursor = next;
  }
}

/** The spec as the listing shows it: `{ every }` or `{ cron, timezone? }`. */
export function describeSpec(spec: ScheduleSpec): { every: string } | { cron: string; timezone?: string } {
  return spec.kind === 'every' ? { every: spec.every } : { cron: spec.cron, ...(spec.timezone ? { timezone: spec.timezone } : {}) };
}
