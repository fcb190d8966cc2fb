/**
 * Authentication: turns `Authorization: Bearer <api key>` (or the dashboard's session cookie)
 * into an `Access`, or answers 401 with `WWW-Authenticate: Bearer`. With AUTH_MODE=none every
 * request is `open`. A cookie-authenticated request that changes state must come from our own
 * origin (CSRF): SameSite=Strict already keeps other sites' requests from carrying the
 * cookie, and the Origin check covers browsers or proxies that do not honour it.
 */
import type { Request, RequestHandler, Response } from 'express';
import { CelerityError, type Logger } from '../../../shared/src/core/index.js';
import { type ApiKeyInfo, type ApiKeyStore } from '../../../shared/src/auth/index.js';
import { sendError } from '../http-errors.js';
import { setAccess } from './access.js';
import { clientAddress } from './client-address.js';

export const SESSION_COOKIE = 'celerity_session';
const REALM = 'Bearer realm="celerity"';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The value of one cookie from the Cookie header (no dependency for one name). */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The bearer token of the Authorization header: undefined when absent, '' when malformed. */
export function bearerToken(req: Request): string | undefined {
  const header = req.get('authorization');
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? '';
}

function unauthorized(res: Response, code: 'UNAUTHENTICATED' | 'INVALID_API_KEY', message: string): void {
  res.setHeader('WWW-Authenticate', code === 'INVALID_API_KEY' ? `${REALM}, error="invalid_token"` : REALM);
  sendError(res, new CelerityError(code, message));
}

/**
 * True when an unsafe request comes from the page's own origin. Browsers set Sec-Fetch-Site
 * themselves (pages cannot forge it), so it decides when present; otherwise the Origin header
 * must name our host. A browser may send `Origin: null` (e.g. under a no-referrer policy),
 * which proves nothing, and a request with neither header is not from one of our pages.
 */
export function isSameOrigin(req: Request): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin';
  const origin = req.get('origin');
  if (origin === undefined || origin === 'null') return false;
  try {
    return new URL(origin).host === req.get('host');
  } catch {
    return false;
  }
}

export interface AuthenticateOptions {
  /** Null when AUTH_MODE=none. */
  keys: ApiKeyStore | null;
  /** Where refused credentials are reported (with the client's address, never the key). */
  logger: Logger;
}

/** Resolves the caller: a bearer key first, else the session cookie. */
async function resolve(req: Request, keys: ApiKeyStore): Promise<{ key: ApiKeyInfo; via: 'bearer' | 'session' } | 'missing' | 'invalid'> {
  const token = bearerToken(req);
  if (token !== undefined) {
    const key = token === '' ? undefined : await keys.verify(token);
    return key ? { key, via: 'bearer' } : 'invalid';
  }
  const session = readCookie(req, SESSION_COOKIE);
  if (session !== undefined) {
    const key = await keys.verifySession(session);
    return key ? { key, via: 'session' } : 'invalid';
  }
  return 'missing';
}

/**
 * Sets the request's Access or answers 401. `onMissing` lets the dashboard send a browser to
 * its login page instead of a bare 401.
 */
export function authenticate(options: AuthenticateOptions, onMissing?: (req: Request, res: Response) => boolean): RequestHandler {
  return async (req, res, next) => {
    const { keys } = options;
    if (!keys) {
      setAccess(res, { kind: 'open' });
      return next();
    }
    const found = await resolve(req, keys);
    if (found === 'invalid') {
      options.logger.warn('authentication refused', { path: req.baseUrl + req.path, reason: 'invalid, expired or revoked key or session', clientAddress: clientAddress(req) });
    }
    if (found === 'missing' || found === 'invalid') {
      if (onMissing?.(req, res)) return;
      if (found === 'missing') {
        return unauthorized(res, 'UNAUTHENTICATED', 'This needs an API key: send Authorization: Bearer <key>');
      }
      return unauthorized(res, 'INVALID_API_KEY', 'The API key or session is invalid, expired or revoked');
    }
    if (found.via === 'session' && !SAFE_METHODS.has(req.method) && !isSameOrigin(req)) {
      return sendError(res, new CelerityError('CSRF_REJECTED', 'A cookie-authenticated request that changes state must come from the dashboard\'s own origin'));
    }
    setAccess(res, { kind: 'key', ...found });
    next();
  };
}
