/**
 * Configuration: one defaults object, parsing of the environment (and the worker's flags),
 * and validation at start-up. Every error names the variable. Only the entry point
 * (the `celerity` command, `cli.ts`) and the createWorker/createGateway factories pass `process.env` in.
 *
 * This file holds the defaults and the three loaders (common, gateway, worker); the settings'
 * types are in config/types.ts, parsers of single values in config/parse.ts and the security
 * settings (auth, Host check, /metrics, TLS) in config/security.ts. None of them imports from store/ or broker/: the name rules they share
 * with those layers are in core/names.ts.
 */
import { ConfigError, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel, queueTypeOf, type QueueTypes } from '../core/index.js';
import type { CommonConfig, GatewayConfig, GatewayFlags, ServiceFlags, WorkerConfig, WorkerFlags } from './types.js';
import {
  parseAmqpUrls,
  parseAutoscale,
  parseBoolean,
  parseDatabaseUrl,
  parseExternalTasks,
  parseHeaderFormat,
  parseInteger,
  parseOptionalInteger,
  parseOrigins,
  parseQueueMaxLength,
  parseQueueMaxPriority,
  parseQueueTypes,
  parseQueues,
  parseSchema,
  parseSize,
  read,
  type Env,
} from './parse.js';
import {
  AUTH_MODES,
  isLoopback,
  parseAllowedHosts,
  parseAllowedQueues,
  parseAmqpTls,
  parseWorkerMetricsHost,
  withDatabaseCa,
  type AuthMode,
  type MetricsAccess,
} from './security.js';


export const DEFAULTS = {
  amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
  databaseUrl: 'postgres://celerity:celerity@127.0.0.1:5432/celerity',
  databaseSchema: 'celerity',
  gatewayPort: 8080,
  gatewayHost: '127.0.0.1',
  maxBody: '1mb',
  /** Longest `?wait=` a caller may ask for, in seconds. */
  maxWaitS: 300,
  /** Most tasks in one batch submit (`POST /api/v1/tasks`). */
  maxBatch: 1000,
  workerConcurrency: 16,
  workerMetricsPort: 9400,
  /** Address the worker's /metrics, /healthz and /readyz bind to. */
  workerMetricsHost: '127.0.0.1',
  /** How long a stopping worker lets in-flight tasks finish before requeueing them. */
  workerGraceMs: 30_000,
  /** Task rows older than this are deleted by the worker's retention sweep. */
  resultRetentionHours: 24 * 7,
  heartbeatS: 30,
  /** How long the first broker connection keeps being tried before start-up fails, in ms. */
  amqpInitialConnectTimeoutMs: 15_000,
  /** First broker reconnect (and channel reopen) delay, in ms; doubles with each failure. */
  amqpMinReconnectDelayMs: 100,
  /** Longest broker reconnect (and channel reopen) delay, in ms. */
  amqpMaxReconnectDelayMs: 5_000,
  logLevel: 'info' as LogLevel,
  /**
   * A task still running after this many seconds is failed (TimeLimitExceeded). Kept under
   * RabbitMQ's consumer_timeout (30 minutes by default), which would otherwise close the
   * worker's channel and redeliver every message it holds.
   */
  workerTimeLimitS: 1500,
  /** A message started this many times without finishing (it crashes its worker) is dead-lettered. */
  workerDeliveryLimit: 5,
  /** How long an Idempotency-Key returns the same task, in hours. */
  idempotencyWindowHours: 24,
  authMode: 'none' as AuthMode,
  /** Tasks submitted per minute per API key (a batch of N counts N), unless the key sets its own rate. */
  rateLimitPerMinute: 600,
  /** Open HTTP connections one gateway accepts. */
  gatewayMaxConnections: 10_000,
  /** Time a client has to send a request's headers, in ms. */
  gatewayHeadersTimeoutMs: 10_000,
  /** Time a client has to send a whole request, headers and body, in ms. */
  gatewayBodyTimeoutMs: 30_000,
  /** Largest `args` + `kwargs` of one task (as JSON), per task. */
  maxArgs: '256kb',
  /** Largest task result the worker stores and replies with (as JSON). */
  maxResult: '1mb',
  /** How long a closing gateway lets waiting requests (`?wait=`) finish, in ms (an option, not a variable). */
  gatewayDrainMs: 10_000,
  /** Then how long it lets requests still in flight be answered, in ms: longer than a publish's confirm timeout. */
  gatewayRequestGraceMs: 15_000,
  /** Time between the gateway's queue samples (gauges, dashboard, QUEUE_MAX_LENGTH), in ms. */
  queueStatsIntervalMs: 5_000,
} as const;

function parseLogLevel(env: Env): LogLevel {
  const value = read(env, 'LOG_LEVEL');
  if (value === undefined) return DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${value}"`);
  }
  return value as LogLevel;
}

function parseLogFormat(env: Env): LogFormat | undefined {
  const value = read(env, 'LOG_FORMAT');
  if (value === undefined) return undefined;
  if (!(LOG_FORMATS as readonly string[]).includes(value)) {
    throw new ConfigError('LOG_FORMAT', `must be one of ${LOG_FORMATS.join(', ')}, got "${value}"`);
  }
  return value as LogFormat;
}

/** NO_COLOR (any non-empty value, no-color.org) wins over FORCE_COLOR (any value but 0 or false). */
function parseLogColor(env: Env): boolean | undefined {
  if (read(env, 'NO_COLOR') !== undefined) return false;
  const force = read(env, 'FORCE_COLOR');
  if (force === undefined) return undefined;
  return !/^(0|false)$/i.test(force);
}

function parseAuthMode(env: Env): AuthMode {
  const value = read(env, 'AUTH_MODE');
  if (value === undefined) return DEFAULTS.authMode;
  if (!(AUTH_MODES as readonly string[]).includes(value)) {
    throw new ConfigError('AUTH_MODE', `must be one of ${AUTH_MODES.join(', ')}, got "${value}"`);
  }
  return value as AuthMode;
}

/** AUTH_MODE, AUTH_DISABLED and METRICS_TOKEN, checked against each other. */
function parseMetricsAccess(env: Env): MetricsAccess {
  const authDisabled = parseBoolean('AUTH_DISABLED', read(env, 'AUTH_DISABLED'));
  const authMode = parseAuthMode(env);
  if (authDisabled && authMode !== 'none') {
    throw new ConfigError('AUTH_DISABLED', `=true contradicts AUTH_MODE=${authMode}: set one or the other`);
  }
  const token = read(env, 'METRICS_TOKEN');
  if (token !== undefined && token.length < 16) {
    throw new ConfigError('METRICS_TOKEN', 'must be at least 16 characters (use e.g. openssl rand -hex 24)');
  }
  return { authMode, authDisabled, ...(token !== undefined ? { token } : {}) };
}

/**
 * QUEUE_TYPES and QUEUE_MAX_PRIORITY, checked against each other: a quorum queue cannot be
 * given `x-max-priority` (RabbitMQ 3.x refuses the declaration with 406 "invalid arg
 * 'x-max-priority' ... of queue type rabbit_quorum_queue"; 4.x quorum queues have two fixed
 * priority levels and no such argument), so it is refused here, at start, naming the queue.
 */
function parseQueueDeclarations(env: Env): QueueTypes {
  const types = parseQueueTypes('QUEUE_TYPES', read(env, 'QUEUE_TYPES'));
  const maxPriority = parseQueueMaxPriority('QUEUE_MAX_PRIORITY', read(env, 'QUEUE_MAX_PRIORITY'));
  for (const queue of Object.keys(maxPriority)) {
    if (queueTypeOf(types, queue) === 'quorum') {
      throw new ConfigError('QUEUE_MAX_PRIORITY', `names "${queue}", which QUEUE_TYPES makes a quorum queue: quorum queues take no x-max-priority (see the README's "Priorities"); make it classic or drop it here`);
    }
  }
  return Object.keys(maxPriority).length > 0 ? { ...types, maxPriority } : types;
}

export function loadCommonConfig(env: Env, flags: ServiceFlags = {}): CommonConfig {
  const logFormat = parseLogFormat(env);
  const logColor = parseLogColor(env);
  const heartbeat = read(env, 'AMQP_HEARTBEAT_SECONDS');
  const amqpTls = parseAmqpTls(env);
  const databaseUrl = parseDatabaseUrl('DATABASE_URL', read(env, 'DATABASE_URL') ?? DEFAULTS.databaseUrl);
  return {
    ...(amqpTls ? { amqpTls } : {}),
    amqpUrls: parseAmqpUrls('AMQP_URL', read(env, 'AMQP_URL') ?? DEFAULTS.amqpUrl),
    databaseUrl: withDatabaseCa(databaseUrl, env),
    databaseSchema: parseSchema(read(env, 'DATABASE_SCHEMA') ?? DEFAULTS.databaseSchema),
    logLevel: parseLogLevel(env),
    ...(logFormat ? { logFormat } : {}),
    ...(logColor !== undefined ? { logColor } : {}),
    // The flag can only turn it off: --no-migrate.
    autoMigrate: flags.migrate === false ? false : read(env, 'AUTO_MIGRATE') === undefined || parseBoolean('AUTO_MIGRATE', read(env, 'AUTO_MIGRATE')),
    heartbeatS: heartbeat === undefined ? DEFAULTS.heartbeatS : parseInteger('AMQP_HEARTBEAT_SECONDS', heartbeat, 0, 3600),
    queueTypes: parseQueueDeclarations(env),
    messageHeaders: parseHeaderFormat('MESSAGE_HEADERS', read(env, 'MESSAGE_HEADERS')),
  };
}

export function loadGatewayConfig(env: Env, flags: GatewayFlags = {}): GatewayConfig {
  const externalTasks = parseExternalTasks('GATEWAY_EXTERNAL_TASKS', read(env, 'GATEWAY_EXTERNAL_TASKS'));
  const port = flags.port ?? read(env, 'GATEWAY_PORT');
  const portVar = flags.port !== undefined ? '--port' : 'GATEWAY_PORT';
  const host = flags.host ?? read(env, 'GATEWAY_HOST') ?? DEFAULTS.gatewayHost;
  const hostVar = flags.host !== undefined ? '--host' : 'GATEWAY_HOST';
  const maxWait = read(env, 'GATEWAY_MAX_WAIT_SECONDS');
  const maxBatch = read(env, 'GATEWAY_MAX_BATCH');
  const { authMode, authDisabled, token: metricsToken } = parseMetricsAccess(env);
  // A non-loopback address needs authentication, or the operator saying explicitly that the
  // gateway is meant to be open.
  if (!isLoopback(host) && authMode === 'none' && !authDisabled) {
    throw new ConfigError(
      hostVar,
      `is "${host}", which is not a loopback address: that requires authentication, which is not configured. Set AUTH_MODE=keys (and create keys with celerity keys create), or AUTH_DISABLED=true to expose the gateway without authentication.`,
    );
  }
  const rate = read(env, 'RATE_LIMIT_PER_MINUTE');
  const headersTimeoutMs = parseOptionalInteger(env, 'GATEWAY_HEADERS_TIMEOUT_MS', DEFAULTS.gatewayHeadersTimeoutMs, 100, 600_000);
  const bodyTimeoutMs = parseOptionalInteger(env, 'GATEWAY_BODY_TIMEOUT_MS', DEFAULTS.gatewayBodyTimeoutMs, 100, 3_600_000);
  if (bodyTimeoutMs < headersTimeoutMs) {
    throw new ConfigError('GATEWAY_BODY_TIMEOUT_MS', `(${bodyTimeoutMs}) must be at least GATEWAY_HEADERS_TIMEOUT_MS (${headersTimeoutMs}): it bounds headers and body together`);
  }
  return {
    ...loadCommonConfig(env, flags),
    port: port === undefined ? DEFAULTS.gatewayPort : parseInteger(portVar, port, 0, 65535),
    host,
    maxBodyBytes: parseSize('GATEWAY_MAX_BODY', read(env, 'GATEWAY_MAX_BODY') ?? DEFAULTS.maxBody),
    maxWaitS: maxWait === undefined ? DEFAULTS.maxWaitS : parseInteger('GATEWAY_MAX_WAIT_SECONDS', maxWait, 1, 3600),
    maxBatch: maxBatch === undefined ? DEFAULTS.maxBatch : parseInteger('GATEWAY_MAX_BATCH', maxBatch, 1, 100_000),
    authDisabled,
    idempotencyWindowHours: parseOptionalInteger(env, 'IDEMPOTENCY_WINDOW_HOURS', DEFAULTS.idempotencyWindowHours, 1, 24 * 365),
    queueMaxLength: parseQueueMaxLength('QUEUE_MAX_LENGTH', read(env, 'QUEUE_MAX_LENGTH')),
    authMode,
    corsOrigins: parseOrigins('CORS_ORIGINS', read(env, 'CORS_ORIGINS') ?? ''),
    allowedHosts: parseAllowedHosts(read(env, 'GATEWAY_ALLOWED_HOSTS') ?? '', host),
    allowedQueues: parseAllowedQueues(read(env, 'GATEWAY_ALLOWED_QUEUES') ?? ''),
    maxConnections: parseOptionalInteger(env, 'GATEWAY_MAX_CONNECTIONS', DEFAULTS.gatewayMaxConnections, 1, 1_000_000),
    headersTimeoutMs,
    bodyTimeoutMs,
    rateLimitPerMinute: rate === undefined ? DEFAULTS.rateLimitPerMinute : parseInteger('RATE_LIMIT_PER_MINUTE', rate, 1, 10_000_000),
    ...(metricsToken !== undefined ? { metricsToken } : {}),
    maxArgsBytes: parseSize('GATEWAY_MAX_ARGS', read(env, 'GATEWAY_MAX_ARGS') ?? DEFAULTS.maxArgs),
    ...(externalTasks.length > 0 ? { externalTasks } : {}),
  };
}

export function loadWorkerConfig(env: Env, flags: WorkerFlags, defaults: { queues: string[]; cpus: number }): WorkerConfig {
  const queues = flags.queues ?? read(env, 'WORKER_QUEUES');
  const concurrency = flags.concurrency ?? read(env, 'WORKER_CONCURRENCY');
  const autoscale = flags.autoscale ?? read(env, 'WORKER_AUTOSCALE');
  const metricsPort = flags.metricsPort ?? read(env, 'WORKER_METRICS_PORT');
  const metricsAccess = parseMetricsAccess(env);
  const metricsHost = parseWorkerMetricsHost(
    flags.metricsHost !== undefined ? '--metrics-host' : 'WORKER_METRICS_HOST',
    flags.metricsHost ?? read(env, 'WORKER_METRICS_HOST') ?? DEFAULTS.workerMetricsHost,
    metricsAccess,
  );
  const grace = read(env, 'WORKER_GRACE_MS');
  const threads = read(env, 'WORKER_CPU_THREADS');
  const retention = read(env, 'RESULT_RETENTION_HOURS');
  const queuesVar = flags.queues !== undefined ? '--queues' : 'WORKER_QUEUES';
  return {
    ...loadCommonConfig(env, flags),
    queues: queues === undefined ? defaults.queues : parseQueues(queuesVar, queues),
    concurrency:
      concurrency === undefined
        ? DEFAULTS.workerConcurrency
        : parseInteger(flags.concurrency !== undefined ? '--concurrency' : 'WORKER_CONCURRENCY', concurrency, 1, 10_000),
    metricsPort:
      metricsPort === undefined
        ? DEFAULTS.workerMetricsPort
        : parseInteger(flags.metricsPort !== undefined ? '--metrics-port' : 'WORKER_METRICS_PORT', metricsPort, 0, 65535),
    metricsPortGiven: metricsPort !== undefined,
    metricsHost,
    metricsAccess,
    graceMs: grace === undefined ? DEFAULTS.workerGraceMs : parseInteger('WORKER_GRACE_MS', grace, 0, 24 * 3600 * 1000),
    cpuThreads: threads === undefined ? Math.max(1, defaults.cpus) : parseInteger('WORKER_CPU_THREADS', threads, 1, 1024),
    resultRetentionHours:
      retention === undefined ? DEFAULTS.resultRetentionHours : parseInteger('RESULT_RETENTION_HOURS', retention, 1, 24 * 365 * 10),
    timeLimitS: parseOptionalInteger(env, 'WORKER_TIME_LIMIT_SECONDS', DEFAULTS.workerTimeLimitS, 1, 7 * 24 * 3600),
    deliveryLimit: parseOptionalInteger(env, 'WORKER_DELIVERY_LIMIT', DEFAULTS.workerDeliveryLimit, 1, 1000),
    maxResultBytes: parseSize('WORKER_MAX_RESULT', read(env, 'WORKER_MAX_RESULT') ?? DEFAULTS.maxResult),
    taskEvents: flags.taskEvents === true || parseBoolean('WORKER_TASK_EVENTS', read(env, 'WORKER_TASK_EVENTS')),
    ...(autoscale !== undefined ? { autoscale: parseAutoscale(flags.autoscale !== undefined ? '--autoscale' : 'WORKER_AUTOSCALE', autoscale) } : {}),
  };
}

/** The gateway settings an embedder (createGateway, tests) may leave out of its config. */
export type GatewayConfigDefaulted =
  | 'idempotencyWindowHours'
  | 'queueMaxLength'
  | 'authMode'
  | 'corsOrigins'
  | 'allowedHosts'
  | 'rateLimitPerMinute'
  | 'maxBatch'
  | 'allowedQueues'
  | 'maxConnections'
  | 'headersTimeoutMs'
  | 'bodyTimeoutMs';

/**
 * Fills the gateway settings left out of `config` from DEFAULTS, as the loader would: the one
 * place a gateway built from code gets its defaults (gateway.ts applies none of its own).
 */
export function withGatewayDefaults<C extends Partial<Pick<GatewayConfig, GatewayConfigDefaulted>>>(config: C): C & Pick<GatewayConfig, GatewayConfigDefaulted> {
  return {
    ...config,
    idempotencyWindowHours: config.idempotencyWindowHours ?? DEFAULTS.idempotencyWindowHours,
    queueMaxLength: config.queueMaxLength ?? parseQueueMaxLength('QUEUE_MAX_LENGTH', undefined),
    authMode: config.authMode ?? DEFAULTS.authMode,
    corsOrigins: config.corsOrigins ?? [],
    allowedHosts: config.allowedHosts ?? [],
    rateLimitPerMinute: config.rateLimitPerMinute ?? DEFAULTS.rateLimitPerMinute,
    maxBatch: config.maxBatch ?? DEFAULTS.maxBatch,
    allowedQueues: config.allowedQueues ?? [],
    maxConnections: config.maxConnections ?? DEFAULTS.gatewayMaxConnections,
    headersTimeoutMs: config.headersTimeoutMs ?? DEFAULTS.gatewayHeadersTimeoutMs,
    bodyTimeoutMs: config.bodyTimeoutMs ?? DEFAULTS.gatewayBodyTimeoutMs,
  };
}

/** The worker settings an embedder (createWorker, tests) may leave out of its config. */
export type WorkerConfigDefaulted = 'timeLimitS' | 'deliveryLimit' | 'taskEvents';

/** Fills the worker settings left out of `config` from DEFAULTS, as the loader would (worker.ts applies none of its own). */
export function withWorkerDefaults<C extends Partial<Pick<WorkerConfig, WorkerConfigDefaulted>>>(config: C): C & Pick<WorkerConfig, WorkerConfigDefaulted> {
  return {
    ...config,
    timeLimitS: config.timeLimitS ?? DEFAULTS.workerTimeLimitS,
    deliveryLimit: config.deliveryLimit ?? DEFAULTS.workerDeliveryLimit,
    taskEvents: config.taskEvents ?? false,
  };
}
