/**
 * Configuration: one defaults object, parsing of the environment (and the worker's flags),
 * and validation at start-up. Every error names the variable. Only the entry point
 * (the `celerity` command, `cli.ts`) and the createWorker/createGateway factories pass `process.env` in.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from './errors.js';
import { QUEUE_NAME_RULE, QUEUE_TYPE_NAMES, isValidQueueName, type QueueType, type QueueTypes } from './amqp/topology.js';
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
  /** Requests per minute per API key, unless the key sets its own rate. */
  rateLimitPerMinute: 600,
  /** Largest `args` + `kwargs` of one task (as JSON), per task. */
  maxArgs: '256kb',
  /** Largest task result the worker stores and replies with (as JSON). */
  maxResult: '1mb',
} as const;

/** `none`: no authentication (loopback only, or `AUTH_DISABLED=true`); `keys`: API keys required. */
export const AUTH_MODES = ['none', 'keys'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** TLS material for `amqps://` (amqplib passes it to `tls.connect`), read at start. */
export interface AmqpTlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
}

export interface CommonConfig {
  /** Broker URLs; more than one means cluster nodes to fail over between, tried in order. */
  amqpUrls: string[];
  databaseUrl: string;
  /** Schema holding Celerity's tables. @default 'celerity' */
  databaseSchema: string;
  logLevel: LogLevel;
  /** AMQP heartbeat in seconds. @default 30 */
  heartbeatS: number;
  /** From AMQP_CA_FILE / AMQP_CERT_FILE / AMQP_KEY_FILE / AMQP_KEY_PASSPHRASE; absent when none is set. */
  amqpTls?: AmqpTlsOptions;
  /** QUEUE_TYPES: classic or quorum, per task queue. @default every queue classic (`*=classic`) */
  queueTypes?: QueueTypes;
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
  /** RATE_LIMIT_PER_MINUTE: requests per minute per API key (a key may set its own). @default 600 */
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

/** QUEUE_MAX_LENGTH: a default for every queue plus per-queue values; 0 means no limit. */
export interface QueueMaxLength {
  default: number;
  perQueue: Readonly<Record<string, number>>;
}

export interface ExternalTaskConfig {
  name: string;
  queue: string;
}

const TASK_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$/;

/** Parses `name@queue,name@queue`: tasks implemented outside Celerity and their queues. */
export function parseExternalTasks(variable: string, value: string | undefined): ExternalTaskConfig[] {
  if (value === undefined) return [];
  const tasks: ExternalTaskConfig[] = [];
  for (const item of value.split(',').map((t) => t.trim()).filter((t) => t !== '')) {
    const at = item.lastIndexOf('@');
    const name = at < 0 ? '' : item.slice(0, at);
    const queue = at < 0 ? '' : item.slice(at + 1);
    if (!TASK_NAME.test(name) || !isValidQueueName(queue)) {
      throw new ConfigError(variable, `must list name@queue pairs such as reports.build@reports (task names: letters, digits, _ . : -; queues: ${QUEUE_NAME_RULE}), got "${item}"`);
    }
    if (tasks.some((t) => t.name === name)) throw new ConfigError(variable, `names the task "${name}" twice`);
    tasks.push({ name, queue });
  }
  return tasks;
}

export interface WorkerConfig extends CommonConfig {
  queues: string[];
  concurrency: number;
  /** Port of `/metrics`, `/healthz` and `/readyz`; 0 turns the server off. @default 9400 */
  metricsPort: number;
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

function parseOptionalInteger(env: Env, variable: string, fallback: number, min: number, max: number): number {
  const value = read(env, variable);
  return value === undefined ? fallback : parseInteger(variable, value, min, max);
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

/** GATEWAY_ALLOWED_HOSTS, plus the listen address when it is one specific address. */
function parseAllowedHosts(value: string, listenHost: string): string[] {
  const hosts = value
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  for (const h of hosts) {
    if (h !== '*' && !/^[a-z0-9.:[\]-]+$/.test(h)) {
      throw new ConfigError('GATEWAY_ALLOWED_HOSTS', `has "${h}", which is not a host name or address (no scheme, no port), or *`);
    }
  }
  if (listenHost !== '0.0.0.0' && listenHost !== '::' && !isLoopback(listenHost)) hosts.push(listenHost.toLowerCase());
  return hosts;
}

/** `localhost`, 127.0.0.0/8 or ::1: addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function readFileVariable(env: Env, variable: string): Buffer | undefined {
  const path = read(env, variable);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(variable, `names a file that cannot be read ("${path}"): ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function parseAmqpTls(env: Env): AmqpTlsOptions | undefined {
  const tls: AmqpTlsOptions = {};
  const ca = readFileVariable(env, 'AMQP_CA_FILE');
  const cert = readFileVariable(env, 'AMQP_CERT_FILE');
  const key = readFileVariable(env, 'AMQP_KEY_FILE');
  const passphrase = read(env, 'AMQP_KEY_PASSPHRASE');
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (passphrase !== undefined) tls.passphrase = passphrase;
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(cert ? 'AMQP_KEY_FILE' : 'AMQP_CERT_FILE', 'must be set together with the other (a client certificate needs its key)');
  }
  return Object.keys(tls).length > 0 ? tls : undefined;
}

/** Origins such as `https://app.example.com` (scheme, host, optional port; no path). */
export function parseOrigins(variable: string, value: string): string[] {
  const origins = [...new Set(value.split(',').map((o) => o.trim()).filter((o) => o !== ''))];
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.origin !== origin) {
      throw new ConfigError(variable, `must list origins such as https://app.example.com (scheme, host and port only, no path or trailing slash), got "${origin}"`);
    }
  }
  return origins;
}

/**
 * DATABASE_CA_FILE: node-postgres reads TLS settings from the URL (`sslmode`, `sslrootcert`),
 * so the CA file becomes `sslrootcert` there, with `sslmode=verify-full` unless the URL sets
 * a mode: one place decides, and a URL that already names a CA keeps it.
 */
function withDatabaseCa(url: string, env: Env): string {
  const path = read(env, 'DATABASE_CA_FILE');
  if (path === undefined) return url;
  readFileVariable(env, 'DATABASE_CA_FILE'); // fails at start, naming the variable, if unreadable
  const parsed = new URL(url);
  if (parsed.searchParams.has('sslrootcert')) {
    throw new ConfigError('DATABASE_CA_FILE', 'is set and DATABASE_URL has sslrootcert as well: use one of them');
  }
  parsed.searchParams.set('sslrootcert', path);
  if (!parsed.searchParams.has('sslmode')) parsed.searchParams.set('sslmode', 'verify-full');
  return parsed.toString();
}

function parseAuthMode(env: Env): AuthMode {
  const value = read(env, 'AUTH_MODE');
  if (value === undefined) return DEFAULTS.authMode;
  if (!(AUTH_MODES as readonly string[]).includes(value)) {
    throw new ConfigError('AUTH_MODE', `must be one of ${AUTH_MODES.join(', ')}, got "${value}"`);
  }
  return value as AuthMode;
}

/** Parses `1000` (every queue) or `email=1000,reports=50,*=100000`. */
export function parseQueueMaxLength(variable: string, value: string | undefined): QueueMaxLength {
  if (value === undefined) return { default: 0, perQueue: {} };
  const result: { default: number; perQueue: Record<string, number> } = { default: 0, perQueue: {} };
  for (const part of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq === -1) {
      result.default = parseInteger(variable, part, 0, 1_000_000_000);
      continue;
    }
    const queue = part.slice(0, eq).trim();
    const max = parseInteger(variable, part.slice(eq + 1).trim(), 0, 1_000_000_000);
    if (queue === '*') result.default = max;
    else if (isValidQueueName(queue)) result.perQueue[queue] = max;
    else throw new ConfigError(variable, `has an invalid queue name "${queue}" (${QUEUE_NAME_RULE})`);
  }
  return result;
}

/**
 * Who may read `/metrics`, on the gateway and on the worker alike: with `token` (METRICS_TOKEN)
 * a bearer token is required, and with `authMode: 'keys'` an admin API key works too; with
 * neither it is open. `authDisabled` (AUTH_DISABLED=true) is the operator saying on purpose
 * that a listener beyond loopback may go without authentication.
 */
export interface MetricsAccess {
  authMode: AuthMode;
  authDisabled: boolean;
  /** METRICS_TOKEN, at least 16 characters. */
  token?: string;
}

/** AUTH_MODE, AUTH_DISABLED and METRICS_TOKEN, checked against each other. */
export function parseMetricsAccess(env: Env): MetricsAccess {
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
 * The worker's HTTP server serves nothing but metrics and probes, so beyond loopback it needs
 * some authentication for /metrics (a token, or admin keys), or AUTH_DISABLED=true.
 */
function parseWorkerMetricsHost(variable: string, host: string, access: MetricsAccess): string {
  if (isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(host)) {
    throw new ConfigError(variable, `must be an IP address or a host name, got "${host}"`);
  }
  if (!isLoopback(host) && access.token === undefined && access.authMode === 'none' && !access.authDisabled) {
    throw new ConfigError(
      variable,
      `is "${host}", which is not a loopback address: /metrics there requires authentication, which is not configured. Set METRICS_TOKEN (at least 16 characters; Prometheus sends it as a bearer token), or AUTH_MODE=keys (admin API keys), or AUTH_DISABLED=true to serve /metrics without authentication.`,
    );
  }
  return host;
}

/**
 * Parses QUEUE_TYPES, e.g. `email=quorum,*=classic`: `queue=type` pairs, `*` for every other
 * queue. Every process that declares a queue (gateways, workers) must be given the same value:
 * RabbitMQ refuses a declaration whose type differs from the existing queue's.
 */
export function parseQueueTypes(variable: string, value: string | undefined): QueueTypes {
  const result: { default: QueueType; perQueue: Record<string, QueueType> } = { default: 'classic', perQueue: {} };
  if (value === undefined) return result;
  const seen = new Set<string>();
  for (const part of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    const queue = eq < 0 ? '' : part.slice(0, eq).trim();
    const type = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (eq < 0 || !(QUEUE_TYPE_NAMES as readonly string[]).includes(type)) {
      throw new ConfigError(variable, `must list queue=type pairs with type ${QUEUE_TYPE_NAMES.join(' or ')} and * for every other queue (e.g. email=quorum,*=classic), got "${part}"`);
    }
    if (queue !== '*' && !isValidQueueName(queue)) throw new ConfigError(variable, `has an invalid queue name "${queue}" (${QUEUE_NAME_RULE})`);
    if (seen.has(queue)) throw new ConfigError(variable, `names "${queue}" twice`);
    seen.add(queue);
    if (queue === '*') result.default = type as QueueType;
    else result.perQueue[queue] = type as QueueType;
  }
  return result;
}

export function loadCommonConfig(env: Env): CommonConfig {
  const heartbeat = read(env, 'AMQP_HEARTBEAT_SECONDS');
  const amqpTls = parseAmqpTls(env);
  const databaseUrl = parseDatabaseUrl('DATABASE_URL', read(env, 'DATABASE_URL') ?? DEFAULTS.databaseUrl);
  return {
    ...(amqpTls ? { amqpTls } : {}),
    amqpUrls: parseAmqpUrls('AMQP_URL', read(env, 'AMQP_URL') ?? DEFAULTS.amqpUrl),
    databaseUrl: withDatabaseCa(databaseUrl, env),
    databaseSchema: parseSchema(read(env, 'DATABASE_SCHEMA') ?? DEFAULTS.databaseSchema),
    logLevel: parseLogLevel(env),
    heartbeatS: heartbeat === undefined ? DEFAULTS.heartbeatS : parseInteger('AMQP_HEARTBEAT_SECONDS', heartbeat, 0, 3600),
    queueTypes: parseQueueTypes('QUEUE_TYPES', read(env, 'QUEUE_TYPES')),
  };
}

export function loadGatewayConfig(env: Env): GatewayConfig {
  const externalTasks = parseExternalTasks('GATEWAY_EXTERNAL_TASKS', read(env, 'GATEWAY_EXTERNAL_TASKS'));
  const port = read(env, 'GATEWAY_PORT');
  const host = read(env, 'GATEWAY_HOST') ?? DEFAULTS.gatewayHost;
  const maxWait = read(env, 'GATEWAY_MAX_WAIT_SECONDS');
  const maxBatch = read(env, 'GATEWAY_MAX_BATCH');
  const { authMode, authDisabled, token: metricsToken } = parseMetricsAccess(env);
  // A non-loopback address needs authentication, or the operator saying explicitly that the
  // gateway is meant to be open.
  if (!isLoopback(host) && authMode === 'none' && !authDisabled) {
    throw new ConfigError(
      'GATEWAY_HOST',
      `is "${host}", which is not a loopback address: that requires authentication, which is not configured. Set AUTH_MODE=keys (and create keys with npm run keys -- create), or AUTH_DISABLED=true to expose the gateway without authentication.`,
    );
  }
  const rate = read(env, 'RATE_LIMIT_PER_MINUTE');
  return {
    ...loadCommonConfig(env),
    port: port === undefined ? DEFAULTS.gatewayPort : parseInteger('GATEWAY_PORT', port, 0, 65535),
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
    rateLimitPerMinute: rate === undefined ? DEFAULTS.rateLimitPerMinute : parseInteger('RATE_LIMIT_PER_MINUTE', rate, 1, 10_000_000),
    ...(metricsToken !== undefined ? { metricsToken } : {}),
    maxArgsBytes: parseSize('GATEWAY_MAX_ARGS', read(env, 'GATEWAY_MAX_ARGS') ?? DEFAULTS.maxArgs),
    ...(externalTasks.length > 0 ? { externalTasks } : {}),
  };
}

/** Worker flags, as given on the command line; they override the environment. */
export interface WorkerFlags {
  queues?: string;
  concurrency?: string;
  metricsPort?: string;
  /** `--metrics-host`: address of the worker's /metrics, /healthz and /readyz. */
  metricsHost?: string;
  /** `-E, --task-events` (Celery's flag): publish task events. */
  taskEvents?: boolean;
}

export function loadWorkerConfig(env: Env, flags: WorkerFlags, defaults: { queues: string[]; cpus: number }): WorkerConfig {
  const queues = flags.queues ?? read(env, 'WORKER_QUEUES');
  const concurrency = flags.concurrency ?? read(env, 'WORKER_CONCURRENCY');
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
  };
}
