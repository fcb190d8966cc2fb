/** What `Worker.create` takes (worker.ts). */
import type { Logger } from '../../shared/src/core/index.js';
import type { WorkerConfig } from '../../shared/src/config/index.js';
import type { TaskDefinition } from '../../shared/src/app/index.js';
import type { AutoscaleTiming } from './autoscale/start.js';
import type { FaultPoint } from './pipeline/fault-point.js';
import type { EndpointSettings } from './worker-endpoints.js';

export type WorkerState = 'RUNNING' | 'DRAINING' | 'STOPPED';

export interface WorkerOptions {
  config: Pick<WorkerConfig, 'amqpUrls' | 'databaseUrl' | 'heartbeatS' | 'queues' | 'concurrency' | 'graceMs' | 'cpuThreads' | 'resultRetentionHours'> &
    Partial<Pick<WorkerConfig, 'timeLimitS' | 'deliveryLimit' | 'taskEvents' | 'queueTypes' | 'autoscale'>> &
    Pick<WorkerConfig, 'amqpTls' | 'maxResultBytes'>;
  logger: Logger;
  /**
   * Serve `/metrics`, `/healthz` and `/readyz` here; `undefined` = no server, port 0 = any free
   * port. `host` @default '127.0.0.1'; `access` says who may read /metrics (METRICS_TOKEN, admin
   * keys with AUTH_MODE=keys) @default open; `nextFreePorts`: how many ports after `port` to try
   * when it is taken @default 0 (a taken port fails the start).
   */
  metrics?: EndpointSettings;
  /** Database schema; tests use one each. @default 'celerity' */
  schema?: string;
  /** The tasks this worker runs (an app's, see `loadApp`); a message for any other name fails as unknown. */
  tasks: readonly TaskDefinition[];
  /** `file:` URL of the app module the tasks come from; required when a task is `cpu: true` (pool threads import it). */
  appUrl?: string;
  /** Name recorded with each task. @default celerity@<host>:<pid> */
  name?: string;
  /** Collect prom-client's default process metrics. @default true */
  processMetrics?: boolean;
  /** Publish worker and task events on `celeryev`. @default true */
  events?: boolean;
  /** Time between `worker-heartbeat` events, in ms. @default 2000 */
  heartbeatMs?: number;
  /** With `config.autoscale`: the autoscaler's tick and cool-down. @default 1 s and 30 s */
  autoscaleTiming?: AutoscaleTiming;
  /** A remote `shutdown` command (Celery's pidbox): the CLI stops as on SIGTERM. @default `stop()` */
  onRemoteShutdown?: () => void;
  /** @internal For the chaos tests only (CELERITY_FAULT_POINT, read by the CLI): die at this point of settling a task. */
  faultPoint?: FaultPoint;
}
