/**
 * Checks on a state-changing `/api` request made before anyone is authenticated, in every auth
 * mode: where it comes from (403) and what it carries (415).
 *
 * An HTML form, or a `fetch` in `no-cors` mode, on any web site can POST to a gateway the
 * browser reaches (a developer's open loopback gateway, AUTH_MODE=none), with a "simple"
 * content type (`text/plain`, a form encoding) and no preflight. So such a request must say
 * it carries JSON, which a page can only send after a CORS preflight, even when its body is
 * empty; and a request whose browser says it comes from another site is refused unless
 * CORS_ORIGINS names that origin. Clients that are not browsers send neither header.
 */
import type { Request, RequestHandler } from 'express';
import { CelerityError } from '../../../shared/src/core/index.js';
import { sendError } from '../http-errors.js';
import { SESSION_COOKIE, readCookie } from './authenticate.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** `application/json` or any `application/*+json` (RFC 6839), parameters aside. */
function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9!#$&^_.-]+\+json$/.test(type);
}

/** The media types the API parses as JSON (body-parser's `type` option). */
export const JSON_MEDIA_TYPES = ['application/json', 'application/*+json'];

/** 415 for a state-changing request that does not say it carries JSON, body or not. */
export const requireJsonContentType: RequestHandler = (req, res, next) => {
  if (SAFE_METHODS.has(req.method) || isJsonMediaType(req.get('content-type'))) return next();
  sendError(res, new CelerityError('UNSUPPORTED_MEDIA_TYPE', 'Send the request with Content-Type: application/json (even with an empty body)'));
};

/**
 * Where a browser says the request comes from: `same` (our own page, or nothing says: not a
 * browser), or `cross`. Sec-Fetch-Site is set by the browser itself (pages cannot forge it),
 * so it decides when present; otherwise an Origin header must name our own host (`null`, sent
 * by sandboxed frames and after cross-site redirects, proves nothing and counts as cross).
 */
function requestSite(req: Request): 'same' | 'cross' {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? 'same' : 'cross';
  const origin = req.get('origin');
  if (origin === undefined) return 'same';
  try {
    return origin !== 'null' && new URL(origin).host === req.get('host') ? 'same' : 'cross';
  } catch {
    return 'cross';
  }
}

/** 403 ORIGIN_NOT_ALLOWED for a state-changing cross-site request whose origin CORS_ORIGINS does not name. */
export function refuseCrossSite(corsOrigins: readonly string[]): RequestHandler {
  const allowed = new Set(corsOrigins);
  return (req, res, next) => {
    if (SAFE_METHODS.has(req.method) || requestSite(req) === 'same') return next();
    const origin = req.get('origin');
    if (origin !== undefined && allowed.has(origin)) return next();
    // With the dashboard's cookie it is the forgery the dashboard's CSRF check names.
    if (readCookie(req, SESSION_COOKIE) !== undefined) {
      return sendError(res, new CelerityError('CSRF_REJECTED', 'A cookie-authenticated request that changes state must come from the dashboard\'s own origin'));
    }
    sendError(res, new CelerityError('ORIGIN_NOT_ALLOWED', 'A cross-site request that changes state is refused unless its origin is in CORS_ORIGINS'));
  };
}
