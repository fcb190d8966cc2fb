/**
 * `createApp(deps)` builds the gateway's Express app without listening, so tests drive it
 * directly; `gateway.ts` wires the real dependencies and listens.
 */
import express, { type RequestHandler } from 'express';
import { traceNow, tracing, type Logger } from '../../shared/src/core/index.js';
import { errorHandler, notFound } from './http-errors.js';
import type { GatewayMetrics } from './metrics.js';
import { dashboardRoutes, type DashboardDeps } from './routes/dashboard.js';
import { batchRoutes, type BatchRoutesDeps } from './routes/batch.js';
import { healthRoutes, type Readiness } from './routes/health.js';
import { openApiRoutes } from './routes/openapi.js';
import { deadLetterRoutes, type DeadLetterRoutesDeps } from './routes/dead-letters.js';
import { flowKeyRoutes, type FlowKeyRoutesDeps } from './routes/flow-keys.js';
import { scheduleRoutes, type ScheduleRoutesDeps } from './routes/schedules.js';
import { taskSearchRoutes } from './routes/task-search.js';
import { taskRoutes, type TaskRoutesDeps } from './routes/tasks.js';
import { revokeRoutes, type RevokeRoutesDeps } from './routes/revoke.js';
import { taskEventRoutes, type TaskEventRoutesDeps } from './routes/task-events.js';
import { workerAdminRoutes, type WorkerAdminDeps } from './routes/worker-admin.js';
import { workflowRoutes, type WorkflowRoutesDeps } from './routes/workflows.js';
import { OPEN_SECURITY, securityHeadersOnWrite, securityRouter, type SecurityOptions } from './security.js';

export interface AppDeps
  extends TaskRoutesDeps, DeadLetterRoutesDeps, BatchRoutesDeps, RevokeRoutesDeps, TaskEventRoutesDeps, ScheduleRoutesDeps, Partial<Pick<WorkflowRoutesDeps, 'workflows'>> {
  logger: Logger;
  readiness: Readiness;
  /** Largest request body, in bytes. */
  maxBodyBytes: number;
  /** Queue stats and worker monitor for `/dashboard` and its JSON; absent = no dashboard. */
  dashboard?: DashboardDeps;
  /** Worker admin actions over Celery's remote control (the dashboard's Workers view); absent = none. */
  workerAdmin?: Omit<WorkerAdminDeps, 'logger'>;
  /** The busiest flow-control keys (GET /api/v1/flow/keys); absent = no such route. */
  flowKeys?: FlowKeyRoutesDeps['flowKeys'];
  /** Authentication, CORS, rate limits (docs/security.md). @default OPEN_SECURITY: no auth */
  security?: SecurityOptions;
}

/** Records `celerity_http_request_duration_seconds` and an `http`-level log line per request. */
function observeRequests(metrics: GatewayMetrics, logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    if (tracing()) res.locals.arrivedAt = traceNow(); // the route stamps `http.in` with it once the task id is known
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // The route pattern, not the path, keeps the label bounded (no task ids in labels).
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      metrics.httpDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
      // winston runs every format (timestamp, redaction) before its level filter: skip the
      // whole call unless the line will be written.
      if (logger.isLevelEnabled('http')) {
        logger.http('request', { method: req.method, route, status: res.statusCode, durationMs: Math.round(seconds * 1000) });
      }
    });
    next();
  };
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  securityHeadersOnWrite(app);
  app.use(observeRequests(deps.metrics, deps.logger));
  app.use(securityRouter(deps.security ?? { ...OPEN_SECURITY, maxBodyBytes: deps.maxBodyBytes }, deps.logger));
  app.use(healthRoutes(deps.readiness, deps.metrics.registry));
  app.use(openApiRoutes({
    catalogue: deps.submitter.catalogue,
    keysOn: deps.security?.authMode === 'keys',
    maxBatch: deps.maxBatch,
    maxWaitS: deps.maxWaitS,
    dashboard: deps.dashboard !== undefined,
    flowKeys: deps.flowKeys !== undefined,
  }));
  // Bodies are parsed by the security layer, after authentication (security.ts).
  app.use(taskRoutes(deps));
  app.use(revokeRoutes(deps));
  app.use(taskEventRoutes(deps));
  app.use(deadLetterRoutes(deps));
  app.use(taskSearchRoutes(deps));
  // Before the dashboard's GET /api/v1/workers, which would not match /live anyway.
  if (deps.workerAdmin) app.use(workerAdminRoutes({ ...deps.workerAdmin, logger: deps.logger }));
  app.use(scheduleRoutes(deps));
  if (deps.flowKeys) app.use(flowKeyRoutes({ flowKeys: deps.flowKeys }));
  if (deps.dashboard) app.use(dashboardRoutes(deps.dashboard));
  app.use(batchRoutes(deps));
  if (deps.workflows) app.use(workflowRoutes({ ...deps, workflows: deps.workflows }));
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
