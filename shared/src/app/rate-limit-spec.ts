/**
 * defineTask's `rateLimit`: a fleet-wide budget of task starts per key, written `N/s`, `N/m` or
 * `N/h`. Read here, once, when the app loads, so that a limit that does not parse stops the app
 * naming the task instead of surfacing on the first message. (Celery's per-worker `rate_limit`,
 * set by remote control, is another thing: worker/src/rate-limit/.)
 */

/** What `limit` must look like, for error messages and the docs. */
const RATE_LIMIT_RULE = 'N/s, N/m or N/h with N a positive whole number (e.g. 100/s, 20/m, 1000/h)';

/** Longest key a `rateLimit.key` function may return, in UTF-16 code units. */
export const MAX_FLOW_KEY_LENGTH = 200;

const SECONDS_PER_UNIT = { s: 1, m: 60, h: 3_600 } as const;
const RATE = /^([1-9]\d{0,8})\/([smh])$/;

/**
 * A task's keyed rate limit, as written in `defineTask`. `In` is what the key and units
 * functions get: a one-object task's input, else `{ args, kwargs }`, as the schemas parsed them.
 */
export interface RateLimit<In = unknown> {
  /** The budget: `N/s`, `N/m` or `N/h` (N a positive whole number), shared by every worker. */
  limit: string;
  /** The key whose budget a task spends (a string of at most 200 characters). @default '' (one budget for the task type) */
  key?: (input: In) => string;
  /** How much of the budget one task spends: a positive number, or a function of the input giving one. @default 1 */
  units?: number | ((input: In) => number);
}

/** A rate limit as the catalogue holds it: `limit` read into starts per second. */
export interface RateLimitDefinition extends RateLimit {
  perSecond: number;
}

/** Units of budget per second that `limit` allows, or undefined when it does not parse ({@link RATE_LIMIT_RULE}). */
export function parseRateLimitSpec(limit: unknown): number | undefined {
  if (typeof limit !== 'string') return undefined;
  const match = RATE.exec(limit);
  if (!match) return undefined;
  return Number(match[1]) / SECONDS_PER_UNIT[match[2] as keyof typeof SECONDS_PER_UNIT];
}

/** Whether `units` is a budget a task may spend: a positive finite number. */
export function isValidUnits(units: unknown): units is number {
  return typeof units === 'number' && Number.isFinite(units) && units > 0;
}

/** The rate limit read and checked, or why it is wrong (a sentence naming the field). */
export function readRateLimit(value: unknown): { ok: true; rateLimit: RateLimitDefinition } | { ok: false; problem: string } {
  if (typeof value !== 'object' || value === null) return { ok: false, problem: 'rateLimit must be an object: { limit, key?, units? }' };
  const { limit, key, units } = value as Record<string, unknown>;
  const perSecond = parseRateLimitSpec(limit);
  if (perSecond === undefined) return { ok: false, problem: `rateLimit.limit must be ${RATE_LIMIT_RULE}, got ${JSON.stringify(limit) ?? String(limit)}` };
  if (key !== undefined && typeof key !== 'function') return { ok: false, problem: 'rateLimit.key must be a function of the task input returning a string' };
  if (units !== undefined && typeof units !== 'function' && !isValidUnits(units)) return { ok: false, problem: 'rateLimit.units must be a positive number or a function of the task input returning one' };
  return {
    ok: true,
    rateLimit: {
      limit: limit as string,
      perSecond,
      ...(key ? { key: key as RateLimit['key'] } : {}),
      ...(units !== undefined ? { units: units as RateLimit['units'] } : {}),
    },
  };
}
