/**
 * Per-key rate limit (express-rate-limit, fixed one-minute window, counted in this gateway
 * process): a key makes at most its own `ratePerMinute`, or RATE_LIMIT_PER_MINUTE, requests a
 * minute; over it, 429 RATE_LIMITED with `Retry-After`. Open access (AUTH_MODE=none) is not
 * limited: there is no key to count against, and the contract's keyless behaviour stays as is.
 */
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { CelerityError } from '../../../shared/src/index.js';
import { sendError } from '../http-errors.js';
import { accessOf } from './access.js';

export const RATE_WINDOW_MS = 60_000;

export function perKeyRateLimit(defaultPerMinute: number): RequestHandler {
  return rateLimit({
    windowMs: RATE_WINDOW_MS,
    limit: (_req, res) => {
      const access = accessOf(res);
      return access.kind === 'key' ? (access.key.ratePerMinute ?? defaultPerMinute) : defaultPerMinute;
    },
    skip: (_req, res) => accessOf(res).kind === 'open',
    keyGenerator: (_req, res) => {
      const access = accessOf(res);
      return access.kind === 'key' ? access.key.id : 'open';
    },
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // The key, not the client address, is what we count; the address checks do not apply.
    validate: false,
    handler: (_req, res) => {
      // express-rate-limit has set Retry-After (seconds to the end of the window) already.
      const retryAfterS = Number(res.getHeader('Retry-After'));
      sendError(
        res,
        new CelerityError('RATE_LIMITED', 'This API key is over its request rate; retry after the time in Retry-After', {
          ...(Number.isFinite(retryAfterS) ? { retryAfterS } : {}),
        }),
      );
    },
  });
}
