/**
 * Starts a worker's `/metrics`, `/healthz` and `/readyz` (metrics-server.ts) from its settings,
 * reading the worker's state through `view` (undefined while it is still starting).
 */
import type { Server } from 'node:http';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { Broker } from '../../shared/src/broker/index.js';
import { ApiKeyStore } from '../../shared/src/auth/index.js';
import { DEFAULTS, isLoopback, type MetricsAccess } from '../../shared/src/config/index.js';
import type { TaskStore } from '../../shared/src/store/index.js';
import type { Logger } from '../../shared/src/core/index.js';
import { serverPort, startMetricsServer } from './metrics-server.js';

/** Where to serve: port 0 = any free port; `nextFreePorts`: how many ports after `port` to try when it is taken. */
export interface EndpointSettings {
  port: number;
  host?: string;
  access?: MetricsAccess;
  nextFreePorts?: number;
}

interface WorkerView {
  state: string;
  inFlight: number;
  consuming: boolean;
}

export async function startWorkerEndpoints(
  settings: EndpointSettings,
  deps: { registry: Registry; view: () => WorkerView | undefined; broker: Broker; store: TaskStore; pool: pg.Pool; logger: Logger },
): Promise<Server> {
  const { port, host = DEFAULTS.workerMetricsHost, access, nextFreePorts } = settings;
  const { broker, store, logger, view } = deps;
  const server = await startMetricsServer({
    registry: deps.registry,
    health: () => {
      const worker = view();
      // Not consuming (a channel reopen still failing) is not healthy either: nothing runs.
      return { ok: worker?.state === 'RUNNING' && broker.connected && worker.consuming, state: worker?.state ?? 'STARTING', inFlight: worker?.inFlight ?? 0 };
    },
    readiness: {
      broker: () => broker.connected,
      consuming: () => view()?.state === 'RUNNING' && view()?.consuming === true,
      database: () => store.ping(),
    },
    guard: {
      ...(access?.token !== undefined ? { token: access.token } : {}),
      ...(access?.authMode === 'keys' ? { keys: new ApiKeyStore(deps.pool) } : {}),
    },
    port,
    host,
    logger,
    ...(nextFreePorts ? { nextFreePorts } : {}),
  });
  if (!isLoopback(host) && access?.token === undefined && access?.authMode !== 'keys') {
    logger.warn('the worker serves /metrics without authentication to anyone who can reach this address (AUTH_DISABLED=true)', { host });
  }
  logger.info('worker metrics on /metrics, /healthz and /readyz', { host, port: serverPort(server) });
  return server;
}
