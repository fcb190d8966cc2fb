/**
 * The dashboard's door when AUTH_MODE=keys: `/dashboard/login` shows a form that takes an
 * admin key and exchanges it for a session cookie (HttpOnly, SameSite=Strict, Secure over
 * HTTPS, opaque: a random token stored hashed in PostgreSQL). The cookie then authenticates
 * the dashboard's pages and its same-origin `/api/...` calls. `POST /dashboard/logout` ends it.
 * A bearer admin key works as well, without any of this.
 */
import express, { type Request, type Response } from 'express';
import type { ApiKeyStore } from '../../../shared/src/auth/index.js';
import type { Logger } from '../../../shared/src/core/index.js';
import { SESSION_COOKIE, isSameOrigin, readCookie } from './authenticate.js';
import { clientAddress } from './client-address.js';

/** How long a dashboard login lasts, in seconds (12 hours). */
const SESSION_TTL_S = 12 * 3600;

const LOGIN_PATH = '/dashboard/login';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(message?: string): string {
  // No script: the page works under the strictest CSP. Inline style is allowed by helmet's default.
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Celerity dashboard: sign in</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}
input{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}button{padding:.5rem 1rem}
.error{color:#b00020}</style></head>
<body><h1>Celerity dashboard</h1>
<p>Sign in with an API key that has the <code>admin</code> scope (create one with
<code>npm run keys -- create --name ops --scopes admin</code>).</p>
${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : ''}
<form method="post" action="${LOGIN_PATH}">
<label for="key">Admin API key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></body></html>
`;
}

function sendPage(res: Response, status: number, message?: string): void {
  res.status(status).type('html').setHeader('Cache-Control', 'no-store');
  res.send(page(message));
}

function isHttps(req: Request): boolean {
  return req.secure || req.get('x-forwarded-proto') === 'https';
}

/** Sends a browser that has no valid credentials to the login page; true when it did. */
export function redirectToLogin(req: Request, res: Response): boolean {
  if ((req.method !== 'GET' && req.method !== 'HEAD') || !req.accepts('html') || req.accepts(['json', 'html']) === 'json') return false;
  res.redirect(303, LOGIN_PATH);
  return true;
}

export function dashboardLogin(keys: ApiKeyStore, logger: Logger): express.Router {
  const router = express.Router();
  router.get(LOGIN_PATH, (_req, res) => sendPage(res, 200));
  router.post(LOGIN_PATH, express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    // Login CSRF: another site must not sign a browser in with the attacker's key.
    if (!isSameOrigin(req)) return sendPage(res, 403, 'This form must be sent from the dashboard itself.');
    const presented = (req.body as { key?: unknown } | undefined)?.key;
    const key = typeof presented === 'string' ? await keys.verify(presented.trim()) : undefined;
    if (!key) {
      logger.warn('dashboard login refused: invalid or revoked key', { clientAddress: clientAddress(req) });
      return sendPage(res, 401, 'That key is invalid or revoked.');
    }
    if (!key.scopes.admin) {
      logger.warn('dashboard login refused: key is not admin', { keyId: key.id, keyName: key.name, clientAddress: clientAddress(req) });
      return sendPage(res, 403, 'That key does not have the admin scope.');
    }
    const token = await keys.createSession(key.id, SESSION_TTL_S);
    res.cookie(SESSION_COOKIE, token, {
      httpOnly: true,
      sameSite: 'strict',
      secure: isHttps(req),
      path: '/',
      maxAge: SESSION_TTL_S * 1000,
    });
    logger.info('dashboard login', { keyId: key.id, keyName: key.name });
    res.redirect(303, '/dashboard/');
  });
  router.post('/dashboard/logout', async (req, res) => {
    if (!isSameOrigin(req)) return sendPage(res, 403, 'This form must be sent from the dashboard itself.');
    const token = readCookie(req, SESSION_COOKIE);
    if (token !== undefined) await keys.endSession(token);
    res.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict' });
    res.redirect(303, LOGIN_PATH);
  });
  return router;
}
