/**
 * Configuration: one defaults object, parsing of the environment (and the worker's flags),
 * and validation at start-up. Every error names the variable. Only the entry points
 * (`gateway/src/main.ts`, `worker/src/main.ts`) pass `process.env` in.
 */
import { isIP } from 'node:net';
import { ConfigError } from './errors.js';
import { QUEUE_NAME_RULE, isValidQueueName } from './amqp/topology.js';
import { isValidSchemaName } from './db/pool.js';

export const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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
  /** How long a stopping worker lets in-flight tasks finish before requeueing them. */
  workerGraceMs: 30_000,
  /** Task rows older than this are deleted by the worker's retention sweep. */
  resultRetentionHours: 24 * 7,
  heartbeatS: 30,
  logLevel: 'info' as LogLevel,
} as const;

export interface CommonConfig {
  /** Broker URLs; more than one means cluster nodes to fail over between, tried in order. */
  amqpUrls: string[];
  databaseUrl: string;
  /** Schema holding Celerity's tables. @default 'celerity' */
  databaseSchema: string;
  logLevel: LogLevel;
  /** AMQP heartbeat in seconds. @default 30 */
  heartbeatS: number;
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
}

export interface WorkerConfig extends CommonConfig {
  queues: string[];
  concurrency: number;
  /** Port of `/metrics` and `/healthz`; 0 turns the server off. @default 9400 */
  metricsPort: number;
  /** Grace period for in-flight tasks on shutdown, in milliseconds. @default 30000 */
  graceMs: number;
  /** Threads for CPU-bound tasks. @default the number of CPUs */
  cpuThreads: number;
  resultRetentionHours: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function read(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function parseAmqpUrls(variable: string, value: string): string[] {
  const urls = value.split(',').map((u) => u.trim()).filter((u) => u !== '');
  if (urls.length === 0) throw new ConfigError(variable, 'must list at least one amqp:// or amqps:// URL');
  for (const url of urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError(variable, 'must be an amqp:// or amqps:// URL (or a comma-separated list of them)');
    }
    if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
      throw new ConfigError(variable, 'must be an amqp:// or amqps:// URL (or a comma-separated list of them)');
    }
  }
  return urls;
}

export function parseDatabaseUrl(variable: string, value: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(variable, 'must be a postgres:// or postgresql:// URL');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConfigError(variable, 'must be a postgres:// or postgresql:// URL');
  }
  return value;
}

export function parseInteger(variable: string, value: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value)) throw new ConfigError(variable, `must be a whole number from ${min} to ${max}, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(variable, `must be a whole number from ${min} to ${max}, got "${value}"`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Parses a size such as `1mb`, `512kb` or `1048576` into bytes. */
export function parseSize(variable: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(value);
  if (!match) throw new ConfigError(variable, `must be a size such as 1mb, 512kb or 1048576, got "${value}"`);
  const bytes = Math.floor(Number(match[1]) * (SIZE_UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1));
  if (bytes < 1) throw new ConfigError(variable, 'must be at least 1 byte');
  return bytes;
}

export function parseQueues(variable: string, value: string): string[] {
  const queues = [...new Set(value.split(',').map((q) => q.trim()).filter((q) => q !== ''))];
  if (queues.length === 0) throw new ConfigError(variable, 'must name at least one queue');
  for (const q of queues) {
    if (!isValidQueueName(q)) {
      throw new ConfigError(variable, `has an invalid queue name "${q}" (${QUEUE_NAME_RULE})`);
    }
  }
  return queues;
}

function parseSchema(value: string): string {
  if (!isValidSchemaName(value)) {
    throw new ConfigError('DATABASE_SCHEMA', `must be a lower-case identifier (letters, digits, _), got "${value}"`);
  }
  return value;
}

function parseLogLevel(env: Env): LogLevel {
  const value = read(env, 'LOG_LEVEL');
  if (value === undefined) return DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${value}"`);
  }
  return value as LogLevel;
}

function parseBoolean(variable: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  throw new ConfigError(variable, `must be true or false, got "${value}"`);
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export function loadCommonConfig(env: Env): CommonConfig {
  const heartbeat = read(env, 'AMQP_HEARTBEAT_SECONDS');
  return {
    amqpUrls: parseAmqpUrls('AMQP_URL', read(env, 'AMQP_URL') ?? DEFAULTS.amqpUrl),
    databaseUrl: parseDatabaseUrl('DATABASE_URL', read(env, 'DATABASE_URL') ?? DEFAULTS.databaseUrl),
    databaseSchema: parseSchema(read(env, 'DATABASE_SCHEMA') ?? DEFAULTS.databaseSchema),
    logLevel: parseLogLevel(env),
    heartbeatS: heartbeat === undefined ? DEFAULTS.heartbeatS : parseInteger('AMQP_HEARTBEAT_SECONDS', heartbeat, 0, 3600),
  };
}

export function loadGatewayConfig(env: Env): GatewayConfig {
  const port = read(env, 'GATEWAY_PORT');
  const host = read(env, 'GATEWAY_HOST') ?? DEFAULTS.gatewayHost;
  const maxWait = read(env, 'GATEWAY_MAX_WAIT_SECONDS');
  const maxBatch = read(env, 'GATEWAY_MAX_BATCH');
  const authDisabled = parseBoolean('AUTH_DISABLED', read(env, 'AUTH_DISABLED'));
  // Authentication does not exist yet, so a non-loopback address is only allowed when the
  // operator says explicitly that the gateway is meant to be open.
  if (!isLoopback(host) && !authDisabled) {
    throw new ConfigError(
      'GATEWAY_HOST',
      `is "${host}", which is not a loopback address: that requires authentication, which is not configured. Set AUTH_DISABLED=true to expose the gateway without authentication.`,
    );
  }
  return {
    ...loadCommonConfig(env),
    port: port === undefined ? DEFAULTS.gatewayPort : parseInteger('GATEWAY_PORT', port, 0, 65535),
    host,
    maxBodyBytes: parseSize('GATEWAY_MAX_BODY', read(env, 'GATEWAY_MAX_BODY') ?? DEFAULTS.maxBody),
    maxWaitS: maxWait === undefined ? DEFAULTS.maxWaitS : parseInteger('GATEWAY_MAX_WAIT_SECONDS', maxWait, 1, 3600),
    maxBatch: maxBatch === undefined ? DEFAULTS.maxBatch : parseInteger('GATEWAY_MAX_BATCH', maxBatch, 1, 100_000),
    authDisabled,
  };
}

/** Worker flags, as given on the command line; they override the environment. */
export interface WorkerFlags {
  queues?: string;
  concurrency?: string;
  metricsPort?: string;
}

export function loadWorkerConfig(env: Env, flags: WorkerFlags, defaults: { queues: string[]; cpus: number }): WorkerConfig {
  const queues = flags.queues ?? read(env, 'WORKER_QUEUES');
  const concurrency = flags.concurrency ?? read(env, 'WORKER_CONCURRENCY');
  const metricsPort = flags.metricsPort ?? read(env, 'WORKER_METRICS_PORT');
  const grace = read(env, 'WORKER_GRACE_MS');
  const threads = read(env, 'WORKER_CPU_THREADS');
  const retention = read(env, 'RESULT_RETENTION_HOURS');
  const queuesVar = flags.queues !== undefined ? '--queues' : 'WORKER_QUEUES';
  return {
    ...loadCommonConfig(env),
    queues: queues === undefined ? defaults.queues : parseQueues(queuesVar, queues),
    concurrency:
      concurrency === undefined
        ? DEFAULTS.workerConcurrency
        : parseInteger(flags.concurrency !== undefined ? '--concurrency' : 'WORKER_CONCURRENCY', concurrency, 1, 10_000),
    metricsPort:
      metricsPort === undefined
        ? DEFAULTS.workerMetricsPort
        : parseInteger(flags.metricsPort !== undefined ? '--metrics-port' : 'WORKER_METRICS_PORT', metricsPort, 0, 65535),
    graceMs: grace === undefined ? DEFAULTS.workerGraceMs : parseInteger('WORKER_GRACE_MS', grace, 0, 24 * 3600 * 1000),
    cpuThreads: threads === undefined ? Math.max(1, defaults.cpus) : parseInteger('WORKER_CPU_THREADS', threads, 1, 1024),
    resultRetentionHours:
      retention === undefined ? DEFAULTS.resultRetentionHours : parseInteger('RESULT_RETENTION_HOURS', retention, 1, 24 * 365 * 10),
  };
}
