/**
 * Per-key rate limit, counted in tasks: a key submits at most its own `ratePerMinute`, or
 * RATE_LIMIT_PER_MINUTE, tasks a minute (a fixed one-minute window per key, counted in this
 * gateway process). A batch of N tasks costs N and is refused whole when fewer than N remain;
 * any other request costs 1. Over the limit: 429 RATE_LIMITED with `Retry-After`. Open access
 * (AUTH_MODE=none) is not limited: there is no key to count against.
 *
 * It runs after the batch body is parsed (batchScopes), so it knows what a batch costs.
 */
import type { Request, RequestHandler } from 'express';
import { CelerityError } from '../../../shared/src/core/index.js';
import { sendError } from '../http-errors.js';
import { accessOf } from './access.js';

export const RATE_WINDOW_MS = 60_000;

/** What one request costs: the number of tasks of a batch submit, else 1. */
function requestCost(req: Request): number {
  if (req.method !== 'POST' || !/^\/api\/v1\/tasks\/?$/.test(req.baseUrl + req.path)) return 1;
  const tasks = (req.body as { tasks?: unknown } | undefined)?.tasks;
  return Array.isArray(tasks) && tasks.length > 0 ? tasks.length : 1;
}

interface Window {
  startedAt: number;
  used: number;
}

/** Fixed one-minute windows per key; a window is forgotten once it has ended. */
export class TaskRateWindows {
  readonly #windows = new Map<string, Window>();
  #lastSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Charges `cost` to `key` when it fits under `limit`; otherwise charges nothing. */
  take(key: string, cost: number, limit: number): { ok: boolean; remaining: number; resetS: number } {
    const now = this.now();
    this.#sweep(now);
    let window = this.#windows.get(key);
    if (!window || now - window.startedAt >= RATE_WINDOW_MS) {
      window = { startedAt: now, used: 0 };
      this.#windows.set(key, window);
    }
    const resetS = Math.max(1, Math.ceil((window.startedAt + RATE_WINDOW_MS - now) / 1000));
    if (window.used + cost > limit) return { ok: false, remaining: Math.max(0, limit - window.used), resetS };
    window.used += cost;
    return { ok: true, remaining: limit - window.used, resetS };
  }

  // Keys that stop calling would otherwise stay in the map for good.
  #sweep(now: number): void {
    if (now - this.#lastSweep < RATE_WINDOW_MS) return;
    this.#lastSweep = now;
    for (const [key, window] of this.#windows) if (now - window.startedAt >= RATE_WINDOW_MS) this.#windows.delete(key);
  }
}

export function perKeyRateLimit(defaultPerMinute: number, windows = new TaskRateWindows()): RequestHandler {
  return (req, res, next) => {
    const access = accessOf(res);
    if (access.kind === 'open') return next();
    const limit = access.key.ratePerMinute ?? defaultPerMinute;
    const cost = requestCost(req);
    const taken = windows.take(access.key.id, cost, limit);
    // IETF draft-7 headers, as the limiter before this one sent them.
    res.setHeader('RateLimit-Policy', `${limit};w=${RATE_WINDOW_MS / 1000}`);
    res.setHeader('RateLimit', `limit=${limit}, remaining=${taken.remaining}, reset=${taken.resetS}`);
    if (taken.ok) return next();
    const message =
      cost > limit
        ? `This batch of ${cost} tasks is more than this API key may submit in a minute (${limit}); split it`
        : `This API key is over its rate (${limit} tasks a minute; this request costs ${cost}); retry after the time in Retry-After`;
    sendError(res, new CelerityError('RATE_LIMITED', message, { retryAfterS: taken.resetS }));
  };
}
