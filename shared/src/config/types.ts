/**
 * The shapes of the settings: common to every process, the gateway's and the worker's, as the
 * loaders in load.ts return them (with every default applied), and the worker's flags.
 */
import type { HeaderFormat, LogFormat, LogLevel, QueueTypes } from '../core/index.js';
import type { ExternalTaskConfig, QueueMaxLength } from './parse.js';
import type { AmqpTlsOptions, AuthMode, MetricsAccess } from './security.js';

export interface CommonConfig {
  /** Broker URLs; more than one means cluster nodes to fail over between, tried in order. */
  amqpUrls: string[];
  databaseUrl: string;
  /** Schema holding Celerity's tables. @default 'celerity' */
  databaseSchema: string;
  logLevel: LogLevel;
  /** LOG_FORMAT; absent = pretty on a terminal, JSON otherwise. */
  logFormat?: LogFormat;
  /** Colours in pretty logs: false with NO_COLOR, true with FORCE_COLOR; absent = on a terminal. */
  logColor?: boolean;
  /**
   * AUTO_MIGRATE / `--no-migrate`: a worker or gateway finding its schema behind migrates it at
   * start (under an advisory lock); false refuses to start instead. @default true
   */
  autoMigrate: boolean;
  /** AMQP heartbeat in seconds. @default 30 */
  heartbeatS: number;
  /** From AMQP_CA_FILE / AMQP_CERT_FILE / AMQP_KEY_FILE / AMQP_KEY_PASSPHRASE; absent when none is set. */
  amqpTls?: AmqpTlsOptions;
  /**
   * QUEUE_TYPES: classic or quorum, per task queue; with QUEUE_MAX_PRIORITY's queues in `maxPriority`.
   * @default every queue classic (`*=classic`), none with a priority
   */
  queueTypes?: QueueTypes;
  /**
   * MESSAGE_HEADERS: `celery` (every header of Celery's protocol, for Python Celery workers) or
   * `lean` (only what a Celerity worker reads) on the task messages this process submits. @default 'celery'
   */
  messageHeaders: HeaderFormat;
}

export interface GatewayConfig extends CommonConfig {
  port: number;
  host: string;
  /** Largest request body accepted, in bytes. @default 1 MiB */
  maxBodyBytes: number;
  /** Longest `?wait=` accepted, in seconds. @default 300 */
  maxWaitS: number;
  /** Most tasks in one batch submit. @default 1000 */
  maxBatch: number;
  authDisabled: boolean;
  /** AUTH_MODE: `keys` requires an API key on /api and /dashboard. @default 'none' */
  authMode: AuthMode;
  /** CORS_ORIGINS: browser origins allowed to call the API; empty = no CORS headers. @default [] */
  corsOrigins: string[];
  /**
   * GATEWAY_ALLOWED_HOSTS: with AUTH_MODE=none, the `Host` names /api and /dashboard answer to
   * besides loopback ones (localhost, *.localhost, 127.x, ::1) and a specific GATEWAY_HOST;
   * `*` turns the check off. Stops DNS rebinding. @default []
   */
  allowedHosts: string[];
  /**
   * GATEWAY_ALLOWED_QUEUES: queue names or patterns (`*` = any run of characters) a caller may
   * name in `options.queue` besides its tasks' queues and those QUEUE_TYPES or QUEUE_MAX_PRIORITY names; reserved
   * names (celerity.*, *.dead, ...) stay refused whatever it says. @default []
   */
  allowedQueues: string[];
  /** GATEWAY_MAX_CONNECTIONS: open HTTP connections one gateway accepts; more are closed at once. @default 10000 */
  maxConnections: number;
  /** GATEWAY_HEADERS_TIMEOUT_MS: time a client has to send a request's headers, in ms. @default 10000 */
  headersTimeoutMs: number;
  /**
   * GATEWAY_BODY_TIMEOUT_MS: time a client has to send a whole request (headers and body), in
   * ms; at least GATEWAY_HEADERS_TIMEOUT_MS. A held `?wait=` response is not bounded by it. @default 30000
   */
  bodyTimeoutMs: number;
  /** RATE_LIMIT_PER_MINUTE: tasks per minute per API key (a key may set its own). @default 600 */
  rateLimitPerMinute: number;
  /** METRICS_TOKEN: bearer token for /metrics (an admin key works too when AUTH_MODE=keys). */
  metricsToken?: string;
  /** GATEWAY_MAX_ARGS: largest args + kwargs of one task, as JSON bytes. @default 256 KiB */
  maxArgsBytes: number;
  /** How long an Idempotency-Key keeps returning the same task, in hours. @default 24 */
  idempotencyWindowHours: number;
  /** Waiting messages a queue may hold before submits to it get 503 QUEUE_FULL; 0 = no limit. */
  queueMaxLength: QueueMaxLength;
  /** Tasks run by Python Celery workers (`GATEWAY_EXTERNAL_TASKS`, see docs/celery.md); absent = none. */
  externalTasks?: ExternalTaskConfig[];
}

export interface WorkerConfig extends CommonConfig {
  queues: string[];
  concurrency: number;
  /** Port of `/metrics`, `/healthz` and `/readyz`; 0 turns the server off. @default 9400 */
  metricsPort: number;
  /**
   * Whether metricsPort was given (flag or variable): a given port that is taken is an error,
   * the default one taken moves to the next free port (several workers on one host).
   */
  metricsPortGiven: boolean;
  /** WORKER_METRICS_HOST / --metrics-host: address that server binds to. @default '127.0.0.1' */
  metricsHost: string;
  /** Who may read the worker's `/metrics` (the gateway's rule; see {@link MetricsAccess}). */
  metricsAccess: MetricsAccess;
  /** Grace period for in-flight tasks on shutdown, in milliseconds. @default 30000 */
  graceMs: number;
  /** Threads for CPU-bound tasks. @default the number of CPUs */
  cpuThreads: number;
  resultRetentionHours: number;
  /** Hard time limit for tasks that set none, in seconds. @default 1500 */
  timeLimitS: number;
  /** Starts without finishing after which a message is dead-lettered. @default 5 */
  deliveryLimit: number;
  /**
   * Publish task events (received, started, succeeded, failed, retried) as well as the worker's
   * heartbeats. Off by default, as in Celery (`-E`): they cost a broker publish each, about a
   * fifth of the round trips at 16–64 callers here (docs/metrics.md). @default false
   */
  taskEvents: boolean;
  /** WORKER_MAX_RESULT: largest result stored and replied, as JSON bytes; bigger fails the task. @default 1 MiB */
  maxResultBytes?: number;
  /**
   * WORKER_AUTOSCALE / --autoscale `max,min` (Celery's order): concurrency follows the backlog
   * between these bounds, starting at `min`. @default absent: concurrency stays fixed
   */
  autoscale?: AutoscaleBounds;
}

/** Bounds of an autoscaling worker's concurrency: 1 ≤ min ≤ max ≤ 10000. */
export interface AutoscaleBounds {
  max: number;
  min: number;
}

/** Flags of both the worker and the gateway; they override the environment. */
export interface ServiceFlags {
  /** false with `--no-migrate`: refuse a schema that is behind instead of migrating it. */
  migrate?: boolean;
}

/** Gateway flags, as given on the command line; they override the environment. */
export interface GatewayFlags extends ServiceFlags {
  /** `--port`: overrides GATEWAY_PORT. */
  port?: string;
  /** `--host`: overrides GATEWAY_HOST. */
  host?: string;
}

/** Worker flags, as given on the command line; they override the environment. */
export interface WorkerFlags extends ServiceFlags {
  queues?: string;
  concurrency?: string;
  metricsPort?: string;
  /** `--metrics-host`: address of the worker's /metrics, /healthz and /readyz. */
  metricsHost?: string;
  /** `-E, --task-events` (Celery's flag): publish task events. */
  taskEvents?: boolean;
  /** `--autoscale max,min`: overrides WORKER_AUTOSCALE. */
  autoscale?: string;
}
