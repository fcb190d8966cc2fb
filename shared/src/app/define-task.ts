/**
 * `defineTask`: how a user declares a task in an app module. The value it returns is at once
 * the task's definition (name, queue, schemas, limits: what the gateway validates and routes
 * with) and its implementation (`run`: what a worker calls), and carries the argument and
 * result types so that `client.submit(task, args)` is checked by the compiler.
 *
 *   export const add = defineTask({
 *     name: 'math.add', queue: 'math',
 *     args: z.tuple([z.number(), z.number()]),
 *     run: ([a, b]) => a + b,
 *   });
 */
import { z } from 'zod';
import { CelerityError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RetryPolicy } from '../retry.js';
import { QUEUE_NAME_RULE, QUEUE_TYPE_NAMES, isValidQueueName, type QueueType } from '../amqp/topology.js';
import { isStandardSchema, type InferInput, type InferOutput, type StandardSchemaV1 } from './standard-schema.js';

/** The queue a task goes to when its definition names none (Celery's default queue too). */
export const DEFAULT_TASK_QUEUE = 'celery';

/** Dotted identifiers, as Celery names tasks: `report.words`, `proj.tasks.add`. */
export const TASK_NAME_RULE = 'dot-separated words of letters, digits, _ and -, each starting with a letter or _, at most 200 characters';
const TASK_NAME = /^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*$/;

/** Whether `name` is a valid task name ({@link TASK_NAME_RULE}). */
export function isValidTaskName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= 200 && TASK_NAME.test(name);
}

/** What a task's `run` receives besides its arguments. */
export interface TaskContext {
  /** The task id (a UUID unless the caller chose another). */
  id: string;
  /** The task's name, e.g. `report.words`. */
  name: string;
  /** The queue the message came from. */
  queue: string;
  /** How many times this task has been retried before this attempt. */
  retries: number;
  /** Fires when the task should stop: soft time limit, revoke, forced shutdown. */
  signal: AbortSignal;
  /** A logger whose lines carry the task's id, name and queue. */
  logger: Logger;
}

/** A task's implementation. CPU tasks (`cpu: true`) run on a worker thread, where `ctx` is limited to what can cross threads. */
export type TaskRun<A, K, R> = (args: A, kwargs: K, ctx: TaskContext) => R | Promise<R>;

/** What `defineTask` takes. */
export interface TaskConfig<AS, KS, R> {
  /** Dotted task name, unique within an app, e.g. `report.words`. */
  name: string;
  /** Queue the task is published to unless a caller sets `options.queue`. @default 'celery' */
  queue?: string;
  /**
   * RabbitMQ type of the task's queue: `quorum` replicates it across a cluster's nodes. An entry
   * for this queue in QUEUE_TYPES overrides it; it overrides QUEUE_TYPES' `*` default.
   * @default the `*` entry of QUEUE_TYPES (classic)
   */
  queueType?: QueueType;
  /** Schema of the positional arguments (zod, or any synchronous Standard Schema v1 validator). @default any array */
  args?: AS;
  /** Schema of the keyword arguments. @default any object */
  kwargs?: KS;
  /** Runs on the worker's thread pool so the event loop stays free (CPU-bound work). @default false */
  cpu?: boolean;
  /** Retry policy; fields left out come from the defaults (3 retries, 1 s doubling to 10 min). */
  retry?: Partial<RetryPolicy>;
  /** Hard time limit in seconds. @default the worker's WORKER_TIME_LIMIT_SECONDS */
  timeLimitS?: number;
  /** Soft time limit in seconds: past it `ctx.signal` fires. @default none */
  softTimeLimitS?: number;
  /** Implemented outside Celerity (e.g. by Python Celery workers); then `run` is absent. @default false */
  external?: boolean;
  /** One line on what the task does (shown by the gateway and the CLI). */
  description?: string;
  /** The implementation; required unless `external`. */
  run?: TaskRun<InferOutput<AS>, InferOutput<KS>, R>;
}

type AnyArgsSchema = StandardSchemaV1<unknown, unknown[]>;
type AnyKwargsSchema = StandardSchemaV1<unknown, Record<string, unknown>>;

/**
 * A task as the catalogue holds it: what the gateway and the worker need, independent of
 * where it came from (`defineTask`, or `externalTask` for names only Python workers run).
 */
export interface TaskDefinition {
  name: string;
  queue: string;
  queueType?: QueueType;
  args: AnyArgsSchema;
  kwargs: AnyKwargsSchema;
  cpu: boolean;
  description: string;
  retry?: Partial<RetryPolicy>;
  timeLimitS?: number;
  softTimeLimitS?: number;
  external?: boolean;
  run?: TaskRun<unknown[], Record<string, unknown>, unknown>;
}

const TASK_BRAND: unique symbol = Symbol.for('celerity.task');

/**
 * A defined task. The type parameters are what `run` gets (`A`, `K`), what it returns (`R`) and
 * what a caller passes (`AIn`, `KIn`: the schemas' input types).
 */
export interface Task<A = unknown[], K = Record<string, unknown>, R = unknown, AIn = A, KIn = K> extends TaskDefinition {
  readonly [TASK_BRAND]: true;
  /** Type-only: never set at run time. */
  readonly '~types'?: { args: A; kwargs: K; result: R; argsInput: AIn; kwargsInput: KIn };
}

/** What a caller passes as a task's positional arguments (the args schema's input type), for typed clients. */
export type TaskArgs<T> = T extends Task<unknown, unknown, unknown, infer AIn, unknown> ? AIn : unknown[];
/** What a caller passes as a task's keyword arguments (the kwargs schema's input type). */
export type TaskKwargs<T> = T extends Task<unknown, unknown, unknown, unknown, infer KIn> ? KIn : Record<string, unknown>;
/** What a task's `run` resolves with: what `result()` gives a caller. */
export type TaskResult<T> = T extends Task<unknown, unknown, infer R, unknown, unknown> ? R : unknown;

/** Whether `value` was made by `defineTask` (or `externalTask`): how app modules' exports are told apart. */
export function isTask(value: unknown): value is Task {
  return typeof value === 'object' && value !== null && (value as Record<PropertyKey, unknown>)[TASK_BRAND] === true;
}

const anyArgs: AnyArgsSchema = z.array(z.unknown());
const anyKwargs: AnyKwargsSchema = z.record(z.string(), z.unknown());

/** Thrown when a definition is wrong: at import time, naming the task and the field. */
function invalid(name: unknown, message: string): never {
  throw new CelerityError('INVALID_TASK_DEFINITION', `defineTask(${typeof name === 'string' ? JSON.stringify(name) : '?'}): ${message}`);
}

function checkSeconds(name: string, field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) invalid(name, `${field} must be a positive number of seconds`);
}

/** Declares a task. Checks the definition at once, so a mistake fails at import, not at run time. */
export function defineTask<
  AS extends AnyArgsSchema = StandardSchemaV1<unknown[], unknown[]>,
  KS extends AnyKwargsSchema = StandardSchemaV1<Record<string, unknown>, Record<string, unknown>>,
  R = unknown,
>(config: TaskConfig<AS, KS, R>): Task<InferOutput<AS>, InferOutput<KS>, Awaited<R>, InferInput<AS>, InferInput<KS>> {
  const name: unknown = (config as { name?: unknown } | undefined)?.name;
  if (!isValidTaskName(name)) invalid(name, `name must be ${TASK_NAME_RULE}`);
  const queue = config.queue ?? DEFAULT_TASK_QUEUE;
  if (!isValidQueueName(queue)) invalid(name, `queue "${String(queue)}" is not a valid queue name (${QUEUE_NAME_RULE})`);
  if (config.queueType !== undefined && !(QUEUE_TYPE_NAMES as readonly unknown[]).includes(config.queueType)) {
    invalid(name, `queueType must be ${QUEUE_TYPE_NAMES.join(' or ')}`);
  }
  if (config.args !== undefined && !isStandardSchema(config.args)) invalid(name, 'args must be a zod schema (or another Standard Schema v1 validator)');
  if (config.kwargs !== undefined && !isStandardSchema(config.kwargs)) invalid(name, 'kwargs must be a zod schema (or another Standard Schema v1 validator)');
  if (config.run !== undefined && typeof config.run !== 'function') invalid(name, 'run must be a function');
  if (config.external && config.run !== undefined) invalid(name, 'an external task has no run: it is implemented outside Celerity');
  if (config.external && config.cpu) invalid(name, 'an external task cannot be cpu: true');
  checkSeconds(name, 'timeLimitS', config.timeLimitS);
  checkSeconds(name, 'softTimeLimitS', config.softTimeLimitS);
  const task: TaskDefinition & { [TASK_BRAND]: true } = {
    [TASK_BRAND]: true,
    name,
    queue,
    ...(config.queueType ? { queueType: config.queueType } : {}),
    args: config.args ?? anyArgs,
    kwargs: config.kwargs ?? anyKwargs,
    cpu: config.cpu ?? false,
    description: config.description ?? '',
    ...(config.retry ? { retry: { ...config.retry } } : {}),
    ...(config.timeLimitS !== undefined ? { timeLimitS: config.timeLimitS } : {}),
    ...(config.softTimeLimitS !== undefined ? { softTimeLimitS: config.softTimeLimitS } : {}),
    ...(config.external ? { external: true } : {}),
    ...(config.run ? { run: config.run as TaskRun<unknown[], Record<string, unknown>, unknown> } : {}),
  };
  return Object.freeze(task);
}

/**
 * A task that Python Celery workers (or any Celery-protocol worker) implement: any args and
 * kwargs, routed to `queue`. Add it to the gateway's tasks so the gateway accepts the name.
 */
export function externalTask(name: string, queue: string, description = `Runs on a Celery worker consuming "${queue}".`): Task {
  return defineTask({ name, queue, description, external: true });
}
