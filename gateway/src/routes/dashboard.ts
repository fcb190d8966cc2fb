/**
 * The operators' dashboard: static files under `gateway/dashboard/` at `/dashboard/` (no build
 * step), uPlot served from node_modules, and the JSON it reads: `GET /api/v1/queues` (latest
 * sample and history of every known queue) and `GET /api/v1/workers` (from worker events).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';
import type { QueueStats } from '../queue-stats.js';
import type { WorkerMonitor } from '../worker-monitor.js';

export interface DashboardDeps {
  queueStats: QueueStats;
  monitor: WorkerMonitor;
}

/** The dashboard's files: `gateway/dashboard/` of the package, found from this (compiled) file. */
function dashboardDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'gateway', 'dashboard');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('gateway/dashboard/index.html not found above ' + fileURLToPath(import.meta.url));
}

export function dashboardRoutes(deps: DashboardDeps): Router {
  const router = Router();
  const require = createRequire(import.meta.url);
  const uplot = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  const files = dashboardDir();

  router.get('/api/v1/queues', (_req, res) => {
    res.json({
      intervalMs: deps.queueStats.intervalMs,
      queues: deps.queueStats.list().map((q) => ({ ...q, history: deps.queueStats.history(q.queue) })),
    });
  });
  router.get('/api/v1/workers', (_req, res) => {
    res.json({ workers: deps.monitor.workers() });
  });
  router.get('/dashboard/vendor/uPlot.iife.min.js', (_req, res) => res.sendFile(join(uplot, 'uPlot.iife.min.js')));
  router.get('/dashboard/vendor/uPlot.min.css', (_req, res) => res.sendFile(join(uplot, 'uPlot.min.css')));
  router.use('/dashboard', express.static(files, { index: 'index.html', maxAge: 0 }));
  return router;
}
