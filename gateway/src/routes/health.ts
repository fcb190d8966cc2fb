/** Liveness, readiness and metrics: what load balancers and Prometheus call. */
import { Router } from 'express';
import type { Registry } from 'prom-client';

export interface Readiness {
  broker: () => boolean;
  /** Resolves when the database answers; rejects otherwise. */
  database: () => Promise<void>;
}

/** How long /readyz waits for the database before calling it down. */
const DATABASE_CHECK_MS = 2_000;

export function healthRoutes(readiness: Readiness, registry: Registry): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const broker = readiness.broker();
    let timer: NodeJS.Timeout | undefined;
    const database = await Promise.race([
      readiness.database().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), DATABASE_CHECK_MS))),
    ])
      .catch(() => false)
      .finally(() => clearTimeout(timer));
    const ready = broker && database;
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not ready',
      broker: broker ? 'up' : 'down',
      database: database ? 'up' : 'down',
    });
  });
  router.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  });
  return router;
}
