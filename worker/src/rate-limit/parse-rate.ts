/**
 * Celery's per-worker task rate limit as text: `10/s`, `100/m`, `1000/h`, or a bare number (per
 * second), as kombu's `rate()` reads it. `0` (any unit) means no limit, as in Celery.
 */
import { CelerityError } from '../../../shared/src/core/index.js';

const SECONDS_PER_UNIT: Record<string, number> = { s: 1, m: 60, h: 3600 };
const RATE = /^(\d+(?:\.\d+)?)(?:\/(s|m|h))?$/;

/** Starts per second that `rate` allows; 0 = no limit. Throws INVALID_RATE_LIMIT on anything else. */
export function parseRateLimit(rate: string): number {
  const match = RATE.exec(rate.trim());
  const count = Number(match?.[1]);
  if (!match || !Number.isFinite(count)) {
    throw new CelerityError('INVALID_RATE_LIMIT', `a rate limit is N/s, N/m or N/h (e.g. 10/s, 100/m, 1000/h; a bare N is per second, 0 removes it), got "${rate}"`);
  }
  return count / (SECONDS_PER_UNIT[match[2] ?? 's'] ?? 1);
}
