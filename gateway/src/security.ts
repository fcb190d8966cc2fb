/**
 * The gateway's security layers, in the order a request meets them (one router, mounted
 * before every other route):
 *   1. helmet's security headers, on everything (written with the response's head, see
 *      `securityHeadersOnWrite`);
 *   2. `/metrics`: METRICS_TOKEN, or an admin key when AUTH_MODE=keys (open otherwise);
 *   3. CORS for `/api` from the CORS_ORIGINS allowlist (preflights answered; other origins
 *      get no CORS headers, and their preflights a 403);
 *   4. `/dashboard`: the login form, then an admin key (cookie session or bearer) for the rest;
 *   5. `/api`: a state-changing request must not come from another site (403 unless
 *      CORS_ORIGINS names its origin) and must say it carries JSON (415), in every auth mode;
 *      then authentication (401), the route/scope table (403), the body parsed (400 when it is
 *      not JSON), the queues it names (400, shared/src/auth/queue-access.ts), the per-key rate in
 *      tasks (429).
 * With AUTH_MODE=none, `/api` and `/dashboard` first check the Host header (421, DNS rebinding).
 * `/healthz` and `/readyz` stay open. docs/security.md has the threat model.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ServerResponse } from 'node:http';
import cors from 'cors';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import { CelerityError, type Logger } from '../../shared/src/core/index.js';
import { type ApiKeyStore, type QueueAllowlistOptions } from '../../shared/src/auth/index.js';
import { type AuthMode } from '../../shared/src/config/index.js';
import { sendError } from './http-errors.js';
import { accessOf, assertAdmin } from './auth/access.js';
import { apiPolicy, batchScopes } from './auth/api-policy.js';
import { authenticate, bearerToken } from './auth/authenticate.js';
import { dashboardLogin, redirectToLogin } from './auth/dashboard-login.js';
import { perKeyRateLimit } from './auth/rate-limit.js';
import { submitQueues } from './auth/queue-guard.js';
import { JSON_MEDIA_TYPES, refuseCrossSite, requireJsonContentType } from './auth/request-guards.js';
import { clientAddress } from './auth/client-address.js';

export interface SecurityOptions {
  /** `keys` requires API keys; `none` leaves /api and /dashboard open (loopback, or AUTH_DISABLED). */
  authMode: AuthMode;
  /** The key store; required when authMode is `keys`. */
  keys?: ApiKeyStore;
  /** Origins allowed to call /api from a browser. @default [] */
  corsOrigins: string[];
  /** Bearer token that /metrics accepts. */
  metricsToken?: string;
  /** Tasks per minute per key (a batch of N counts N), unless the key sets its own. */
  rateLimitPerMinute: number;
  /** Largest request body, in bytes (bodies are parsed here, after authentication). */
  maxBodyBytes: number;
  /** The queues callers may name in `options.queue` (GATEWAY_ALLOWED_QUEUES and the app's). @default only the tasks' own */
  queues?: QueueAllowlistOptions;
  /** With authMode `none`: Host names answered besides loopback ones; `*` = any. @default [] */
  allowedHosts?: string[];
}

/** What `createApp` uses when it is given no security options: the contract's keyless gateway. */
export const OPEN_SECURITY: SecurityOptions = { authMode: 'none', corsOrigins: [], rateLimitPerMinute: 600, maxBodyBytes: 1024 * 1024 };

/** helmet, as the gateway configures it. */
const securityHeaderLayer = helmet({
  // The gateway usually runs on plain HTTP on 127.0.0.1 or behind a TLS proxy: upgrading
  // the dashboard's requests to https:// would break the former.
  contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  // helmet's no-referrer makes browsers send `Origin: null` on the dashboard's own POSTs;
  // same-origin keeps referrers from leaving the site and the Origin header useful.
  referrerPolicy: { policy: 'same-origin' },
});

/** The headers `securityHeaderLayer` sets: with these options they are the same on every response. */
function helmetHeaders(): [string, string][] {
  const headers: [string, string][] = [];
  const recorder = {
    setHeader: (name: string, value: string) => headers.push([name, value]),
    removeHeader: () => undefined,
  };
  let synchronous = false;
  securityHeaderLayer({} as express.Request, recorder as unknown as express.Response, (err?: unknown) => {
    if (err) throw err instanceof Error ? err : new Error('helmet refused its own options', { cause: err });
    synchronous = true;
  });
  if (!synchronous) throw new Error('helmet did not set its headers synchronously');
  return headers;
}

/**
 * Sets helmet's headers on every response of `app`, when its head is written rather than when
 * its request arrives: a `?wait=` request is held for up to its whole wait, and 13 headers set
 * up front cost it 1.6 KB for all that time (docs/performance.md, Memory). A header the route
 * set itself wins, as it did when helmet ran first and the route after. Installed on the app's
 * response prototype (every response gets it from Express), so it costs nothing per request.
 */
export function securityHeadersOnWrite(app: express.Express): void {
  const headers = helmetHeaders();
  const response: ServerResponse = app.response;
  response.writeHead = function writeHeadWithSecurityHeaders(this: ServerResponse, ...args: unknown[]) {
    const [status, given] = args;
    // A response that set no header before and gives them all here (an event stream): the
    // security headers join the given ones, so Node writes them without keeping a copy of each
    // for the response's life (a held stream's memory; docs/performance.md).
    if (this.getHeaderNames().length === 0 && args.length === 2 && typeof status === 'number' && isHeaderObject(given)) {
      const all: Record<string, string> = Object.fromEntries(headers);
      for (const [name, value] of Object.entries(given)) all[name] = value;
      const written = ServerResponse.prototype.writeHead.call(this, status, all);
      flattenHead(this);
      return written;
    }
    for (const [name, value] of headers) if (!this.hasHeader(name)) this.setHeader(name, value);
    this.removeHeader('X-Powered-By');
    return ServerResponse.prototype.writeHead.apply(this, args as Parameters<ServerResponse['writeHead']>);
  } as ServerResponse['writeHead'];
}

/**
 * Node builds a response's head by concatenation and keeps it (`_header`) for the response's
 * life: about 70 string pieces, 2.3 KB of a held event stream's heap. Reading one character
 * makes V8 flatten the string in place into one piece, about 1 byte a character, and the
 * pieces become garbage (the head written is the same string).
 */
function flattenHead(res: ServerResponse): void {
  const head = (res as unknown as { _header?: unknown })._header;
  if (typeof head === 'string' && head.length > 0) head.charCodeAt(0);
}

function isHeaderObject(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

function sameSecret(presented: string, expected: string): boolean {
  // Hash both so the comparison takes the same time whatever the lengths.
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function metricsGuard(options: SecurityOptions, keys: ApiKeyStore | null, logger: Logger): RequestHandler {
  return async (req, res, next) => {
    const token = bearerToken(req);
    if (options.metricsToken === undefined && !keys) return next();
    if (token && options.metricsToken !== undefined && sameSecret(token, options.metricsToken)) return next();
    const key = token && keys ? await keys.verify(token) : undefined;
    if (key?.scopes.admin) return next();
    if (key) return sendError(res, new CelerityError('FORBIDDEN', '/metrics needs METRICS_TOKEN or an admin API key'));
    if (token) logger.warn('authentication refused', { path: '/metrics', reason: 'invalid token or key', clientAddress: clientAddress(req) });
    res.setHeader('WWW-Authenticate', 'Bearer realm="celerity-metrics"');
    sendError(res, new CelerityError(token ? 'INVALID_API_KEY' : 'UNAUTHENTICATED', '/metrics needs Authorization: Bearer <METRICS_TOKEN or admin API key>'));
  };
}

function corsLayer(origins: readonly string[]): RequestHandler[] {
  const allowed = new Set(origins);
  const refusedPreflight: RequestHandler = (req, res, next) => {
    const preflight = req.method === 'OPTIONS' && req.get('origin') !== undefined && req.get('access-control-request-method') !== undefined;
    if (!preflight) return next();
    sendError(res, new CelerityError('ORIGIN_NOT_ALLOWED', `Origin ${req.get('origin') ?? ''} is not in CORS_ORIGINS`));
  };
  if (allowed.size === 0) return [refusedPreflight];
  return [
    cors({
      origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
      methods: ['GET', 'POST'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'Last-Event-ID'],
      exposedHeaders: ['Location', 'Retry-After', 'RateLimit', 'RateLimit-Policy', 'Idempotent-Replayed', 'Deduplicated'],
      maxAge: 600,
    }),
    // cors() answers allowed preflights itself and lets refused ones through, without headers.
    refusedPreflight,
  ];
}

/** The host name of a Host header value, without the port, lower case (`[::1]:8080` → `[::1]`). */
function hostName(value: string): string {
  const host = value.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function isLoopbackName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '[::1]';
}

/**
 * Without authentication, a web page on any site can reach a loopback gateway through DNS
 * rebinding (its own name re-pointed at 127.0.0.1): the browser then sends that name as Host.
 * So an open gateway answers only to loopback names and the names the operator allowed.
 * A request without Host (HTTP/1.0, not a browser) passes.
 */
function hostGuard(allowed: readonly string[]): RequestHandler {
  const names = new Set(allowed.map((h) => h.toLowerCase()));
  return (req, res, next) => {
    const header = req.headers.host;
    if (header === undefined || names.has('*')) return next();
    const host = hostName(header);
    if (isLoopbackName(host) || names.has(host)) return next();
    sendError(res, new CelerityError('HOST_NOT_ALLOWED', `Host "${truncateHost(host)}" is not served without authentication: use localhost or 127.0.0.1, or add it to GATEWAY_ALLOWED_HOSTS`));
  };
}

function truncateHost(host: string): string {
  return host.length > 100 ? `${host.slice(0, 100)}…` : host;
}

export function securityRouter(options: SecurityOptions, logger: Logger): express.Router {
  if (options.authMode === 'keys' && !options.keys) throw new Error('AUTH_MODE=keys needs an API key store');
  const keys = options.authMode === 'keys' ? (options.keys ?? null) : null;
  const router = express.Router();
  if (!keys) {
    const guard = hostGuard(options.allowedHosts ?? []);
    router.use('/api', guard);
    router.use('/dashboard', guard);
  }
  router.get('/metrics', metricsGuard(options, keys, logger));
  router.use('/api', ...corsLayer(options.corsOrigins), refuseCrossSite(options.corsOrigins), requireJsonContentType);

  if (keys) router.use(dashboardLogin(keys, logger));
  router.use(
    '/dashboard',
    authenticate({ keys, logger }, redirectToLogin),
    (_req, res, next) => {
      assertAdmin(accessOf(res));
      next();
    },
  );

  router.use('/api', authenticate({ keys, logger }), apiPolicy, express.json({ limit: options.maxBodyBytes, strict: true, type: JSON_MEDIA_TYPES }));
  // A batch's per-item scopes only bind API keys: without them the layer would only cost time.
  if (keys) router.use(batchScopes());
  router.use(submitQueues(options.queues ?? { known: [], patterns: [] }));
  router.use('/api', perKeyRateLimit(options.rateLimitPerMinute));
  return router;
}
