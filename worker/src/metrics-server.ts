/**
 * The worker's HTTP endpoints (plain node:http: three routes need no framework):
 *   - `/healthz`: liveness, 200 while the worker is RUNNING and connected to the broker;
 *   - `/readyz`: 200 when connected to the broker and the database and consuming, else 503;
 *   - `/metrics`: Prometheus text, guarded as the gateway guards its own: a bearer
 *     METRICS_TOKEN, or an admin API key when AUTH_MODE=keys, or open when neither is set
 *     (which the configuration allows only on loopback, or with AUTH_DISABLED=true).
 * The probes stay open: kubelets and load balancers carry no token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ERROR_STATUS, type ErrorCode, type Logger } from '../../shared/src/core/index.js';
import { type ApiKeyInfo } from '../../shared/src/auth/index.js';

/** How long /readyz waits for the database before calling it down (as the gateway's /readyz). */
const DATABASE_CHECK_MS = 2_000;

interface Liveness {
  ok: boolean;
  state: string;
  inFlight: number;
}

export interface WorkerReadiness {
  broker: () => boolean;
  consuming: () => boolean;
  /** Resolves when the database answers; rejects otherwise. */
  database: () => Promise<void>;
}

export interface MetricsGuard {
  /** Bearer token /metrics accepts (METRICS_TOKEN). */
  token?: string;
  /** Verifies API keys (AUTH_MODE=keys): an admin key may read /metrics. */
  keys?: { verify(token: string): Promise<ApiKeyInfo | undefined> };
}

export interface MetricsServerOptions {
  registry: Registry;
  health: () => Liveness;
  readiness: WorkerReadiness;
  /** Who may read /metrics; open when neither a token nor keys are given. @default {} */
  guard?: MetricsGuard;
  /** TCP port; 0 = any free port. */
  port: number;
  /**
   * When `port` is taken, try this many ports after it (the default port with several workers
   * on one host); 0 = a taken port is an error (a port given explicitly). @default 0
   */
  nextFreePorts?: number;
  /** Listen address. */
  host: string;
  /** Where a failed request is reported (its caller only learns that it failed). @default none */
  logger?: Logger;
}

function sameSecret(presented: string, expected: string): boolean {
  // Hash both so the comparison takes the same time whatever the lengths.
  return timingSafeEqual(createHash('sha256').update(presented).digest(), createHash('sha256').update(expected).digest());
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, ERROR_STATUS[code], { error: { code, message } }, headers);
}

/** The token of `Authorization: Bearer <token>`; '' for another scheme, undefined without the header. */
function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  return /^Bearer[ ]+(\S+)\s*$/i.exec(header)?.[1] ?? '';
}

/** True when the request may read /metrics; otherwise the refusal has been sent. */
async function allowMetrics(req: IncomingMessage, res: ServerResponse, guard: MetricsGuard): Promise<boolean> {
  if (guard.token === undefined && !guard.keys) return true;
  const token = bearerToken(req);
  if (token && guard.token !== undefined && sameSecret(token, guard.token)) return true;
  const key = token && guard.keys ? await guard.keys.verify(token) : undefined;
  if (key?.scopes.admin) return true;
  if (key) {
    sendError(res, 'FORBIDDEN', '/metrics needs METRICS_TOKEN or an admin API key');
    return false;
  }
  sendError(
    res,
    token ? 'INVALID_API_KEY' : 'UNAUTHENTICATED',
    '/metrics needs Authorization: Bearer <METRICS_TOKEN or admin API key>',
    { 'WWW-Authenticate': 'Bearer realm="celerity-metrics"' },
  );
  return false;
}

async function databaseUp(readiness: WorkerReadiness): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      readiness.database().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), DATABASE_CHECK_MS))),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, options: MetricsServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET') {
    sendError(res, 'ROUTE_NOT_FOUND', `No route for ${req.method} ${path}`);
    return;
  }
  switch (path) {
    case '/healthz': {
      const h = options.health();
      sendJson(res, h.ok ? 200 : 503, { status: h.ok ? 'ok' : 'not ok', state: h.state, inFlight: h.inFlight });
      return;
    }
    case '/readyz': {
      const broker = options.readiness.broker();
      const consuming = options.readiness.consuming();
      const database = await databaseUp(options.readiness);
      const ready = broker && consuming && database;
      sendJson(res, ready ? 200 : 503, {
        status: ready ? 'ready' : 'not ready',
        broker: broker ? 'up' : 'down',
        database: database ? 'up' : 'down',
        consuming,
      });
      return;
    }
    case '/metrics': {
      if (!(await allowMetrics(req, res, options.guard ?? {}))) return;
      const text = await options.registry.metrics();
      res.writeHead(200, { 'Content-Type': options.registry.contentType });
      res.end(text);
      return;
    }
    default:
      sendError(res, 'ROUTE_NOT_FOUND', `No route for ${req.method} ${path}`);
  }
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<Server> {
  const server = createServer((req, res) => {
    handle(req, res, options).catch((err: unknown) => {
      // An unreachable key store (verify) or a failing collector: a 500, never a crash.
      if (res.headersSent) return res.destroy();
      // The caller may not be authenticated: the error's text (a database host, a driver
      // message) goes to the log, never into the answer.
      options.logger?.error('metrics server request failed', { path: (req.url ?? '/').split('?')[0], err });
      sendError(res, 'INTERNAL', 'Internal error');
    });
  });
  const last = options.port === 0 ? 0 : Math.min(65535, options.port + (options.nextFreePorts ?? 0));
  for (let port = options.port; ; port++) {
    try {
      await listen(server, port, options.host);
      return server;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EADDRINUSE' || port >= last) throw err;
    }
  }
}

/** Listens on `port`, or rejects with the listen error (EADDRINUSE), the server left unbound. */
async function listen(server: Server, port: number, host: string): Promise<void> {
  // events.once rejects when 'error' comes first.
  const listening = once(server, 'listening');
  server.listen(port, host);
  await listening;
}

export function serverPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}
