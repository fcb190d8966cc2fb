/**
 * Parsers of single setting values (numbers, sizes, URLs, queue lists, per-queue tables): each
 * takes the variable's name, so every error names what to fix. No defaults here: those live in
 * load.ts, which assembles these into the gateway's and the worker's settings.
 */
import {
  ConfigError,
  HEADER_FORMATS,
  type HeaderFormat,
  isValidQueueName,
  isValidSchemaName,
  QUEUE_NAME_RULE,
  QUEUE_TYPE_NAMES,
  MAX_MAX_PRIORITY,
  MIN_MAX_PRIORITY,
  type QueueType,
  type QueueTypes,
} from '../core/index.js';

/** The environment (or any map of variables), as the loaders read it. */
export type Env = Readonly<Record<string, string | undefined>>;

/** A variable's trimmed value; unset and blank are both absent. */
export function read(env: Env, name: string): string | undefined {
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

/** Most tasks a worker runs at once, as for --concurrency. */
const MAX_CONCURRENCY = 10_000;

/**
 * `max,min` as Celery's `--autoscale` takes it (`10,3`); a lone `max` means min 1. Each a
 * whole number from 1 to 10000, min not above max.
 */
export function parseAutoscale(variable: string, value: string): { max: number; min: number } {
  const parts = value.split(',').map((part) => part.trim());
  const shape = `must be max,min (e.g. 10,3: up to 10 tasks at once, at least 3) with 1 ≤ min ≤ max ≤ ${MAX_CONCURRENCY}, got "${value}"`;
  if (parts.length > 2 || parts.some((part) => !/^\d+$/.test(part))) throw new ConfigError(variable, shape);
  const max = Number(parts[0]);
  const min = parts[1] === undefined ? 1 : Number(parts[1]);
  if (min < 1 || max > MAX_CONCURRENCY || min > max) throw new ConfigError(variable, shape);
  return { max, min };
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

export function parseOptionalInteger(env: Env, variable: string, fallback: number, min: number, max: number): number {
  const value = read(env, variable);
  return value === undefined ? fallback : parseInteger(variable, value, min, max);
}

/** MESSAGE_HEADERS: `celery` (the default) or `lean`. */
export function parseHeaderFormat(variable: string, value: string | undefined): HeaderFormat {
  if (value === undefined) return 'celery';
  const format = HEADER_FORMATS.find((f) => f === value.toLowerCase());
  if (!format) throw new ConfigError(variable, `must be ${HEADER_FORMATS.join(' or ')}, got "${value}"`);
  return format;
}

export function parseSchema(value: string): string {
  if (!isValidSchemaName(value)) {
    throw new ConfigError('DATABASE_SCHEMA', `must be a lower-case identifier (letters, digits, _), got "${value}"`);
  }
  return value;
}

export function parseBoolean(variable: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  throw new ConfigError(variable, `must be true or false, got "${value}"`);
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

/**
 * Parses QUEUE_MAX_PRIORITY, e.g. `email=10,reports=5`: the queues declared with
 * `x-max-priority` and their highest priority. No `*`: a priority queue costs the broker
 * per level and per message, so each one is named. Every declarer (gateways, workers,
 * clients, Celery's `x-max-priority`) must give the same value or RabbitMQ refuses the
 * declaration.
 */
export function parseQueueMaxPriority(variable: string, value: string | undefined): Record<string, number> {
  const result: Record<string, number> = {};
  if (value === undefined) return result;
  for (const part of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    const queue = eq < 0 ? '' : part.slice(0, eq).trim();
    const level = eq < 0 ? '' : part.slice(eq + 1).trim();
    const n = Number(level);
    if (eq < 0 || !/^\d+$/.test(level) || n < MIN_MAX_PRIORITY || n > MAX_MAX_PRIORITY) {
      throw new ConfigError(
        variable,
        `must list queue=N pairs with N a whole number from ${MIN_MAX_PRIORITY} to ${MAX_MAX_PRIORITY} (10 or less recommended), e.g. email=10,reports=5; got "${part}"`,
      );
    }
    if (!isValidQueueName(queue)) throw new ConfigError(variable, `has an invalid queue name "${queue}" in "${part}" (${QUEUE_NAME_RULE})`);
    if (queue in result) throw new ConfigError(variable, `names "${queue}" twice`);
    result[queue] = n;
  }
  return result;
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
