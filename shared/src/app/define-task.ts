/**
 * `defineTask`: how a user declares a task in an app module. The value it returns is at once
 * the task's definition (name, queue, schemas, limits: what the gateway validates and routes
 * with) and its implementation (`run`: what a worker calls), and carries its name, input and
 * result types so that `client.submit(task, input)` is checked by the compiler.
 *
 *   export const resize = defineTask({               // one object, sent as Celery kwargs
 *     name: 'img.resize', queue: 'img',
 *     input: z.object({ url: z.url(), width: z.number().int() }),
 *     run: ({ url, width }, ctx) => ...,
 *   });
 *   export const add = defineTask({                  // Celery's positional args (+ kwargs)
 *     name: 'math.add', args: z.tuple([z.number(), z.number()]),
 *     run: ([a, b]) => a + b,
 *   });
 */
import { z } from 'zod';
import {
  CelerityError,
  isResultMode,
  isValidQueueName,
  QUEUE_NAME_RULE,
  QUEUE_TYPE_NAMES,
  MAX_MAX_PRIORITY,
  MIN_MAX_PRIORITY,
  type QueueType,
  RESULT_MODES,
} from '../core/index.js';
import type { Logger, ResultMode, RetryPolicy } from '../core/index.js';
import { readRateLimit, type RateLimit, type RateLimitDefinition } from './rate-limit-spec.js';
import { readConcurrency, type ConcurrencyConfig } from './concurrency-spec.js';
import { mayAccept, type ValueShape } from './schema-shape.js';
import { signatureOf, type SignatureCall, type TaskSignature } from './signature.js';
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
  /** A logger whose lines carry the task's id, name and queue; they are also kept in the task's event log (docs/events.md). */
  logger: Logger;
  /**
   * Reports progress: `fraction` from 0 to 1 (clamped, with a warning in the task's log), an
   * optional message (at most 500 characters). Stored as the task's latest progress and sent to
   * event streams, at most 10 reports a second per task (the last of a burst is kept). Never throws.
   */
  progress(fraction: number, message?: string): void;
  /** Sends a chunk of output (a string of at most 16,384 characters) to the task's event streams, kept for replay. Never throws. */
  stream(chunk: string): void;
  /**
   * Pauses this task's rate-limit key (its `rateLimit.key`, else the task type as a whole) for
   * `seconds`, for every worker, and runs this task again after the pause: not a failure, not a
   * retry (`retries` and `attempts` stay as they are; the task shows STARTED meanwhile). It does
   * not return: it throws a `RateLimitedError`, which the task must let through.
   */
  backoff(this: void, seconds: number): never;
}

/** A task's implementation. CPU tasks (`cpu: true`) run on a worker thread, where `ctx` is limited to what can cross threads. */
export type TaskRun<A, K, R> = (args: A, kwargs: K, ctx: TaskContext) => R | Promise<R>;
/** The implementation of a one-object task (`input`): its fields, as the schema parsed them. */
export type InputRun<I, R> = (input: I, ctx: TaskContext) => R | Promise<R>;

/**
 * How a task takes its arguments: `input` (one object of named fields — on the wire, Celery's
 * kwargs with no positional args) or `args` (Celery's positional args, plus kwargs).
 */
export type TaskStyle = 'input' | 'args';

/** What `defineTask` takes. */
export interface TaskConfig<N extends string, AS, KS, IS, R> {
  /** Dotted task name, unique within an app, e.g. `report.words`. */
  name: N;
  /** Queue the task is published to unless a caller sets `options.queue`. @default 'celery' */
  queue?: string;
  /**
   * RabbitMQ type of the task's queue: `quorum` replicates it across a cluster's nodes. An entry
   * for this queue in QUEUE_TYPES overrides it; it overrides QUEUE_TYPES' `*` default.
   * @default the `*` entry of QUEUE_TYPES (classic)
   */
  queueType?: QueueType;
  /**
   * Highest message priority of the task's queue: the queue is declared with `x-max-priority`
   * so `options.priority` (0..maxPriority) orders delivery. 1..255; RabbitMQ recommends 10 or
   * less. An entry for this queue in QUEUE_MAX_PRIORITY overrides it; two tasks of one queue
   * giving different values are refused when the app loads. Classic queues only.
   * @default none: the queue ignores priorities
   */
  maxPriority?: number;
  /**
   * Schema of the task's one input object (zod `z.object`, or any synchronous Standard Schema v1
   * validator): `run(input, ctx)` gets it parsed, callers pass it as `submit(task, input)`, HTTP
   * as `{"kwargs": {...}}`, Python as `task.delay(field=...)`. Not with `args` / `kwargs`.
   */
  input?: IS;
  /** Schema of the positional arguments: an array schema such as `z.tuple([...])`. @default any array */
  args?: AS;
  /** Schema of the keyword arguments (beside `args`). @default any object */
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
  /**
   * What the store keeps of each run: `full` (PENDING, STARTED with its claim, the final row),
   * `final` (only the final row) or `none` (no row; the reply and the metrics only). A submit's
   * `options.result` overrides it. @default 'full'
   */
  result?: ResultMode;
  /** One line on what the task does (shown by the gateway and the CLI). */
  description?: string;
  /**
   * A fleet-wide budget of starts per key: `limit` `N/s`, `N/m` or `N/h`; `key(input)` picks the
   * budget (a one-object task's input, else `{ args, kwargs }`; @default one budget for the task
   * type); `units` is what one task spends (@default 1). A task over its key's budget waits in
   * the broker until its turn. @default none
   */
  rateLimit?: RateLimit<[IS] extends [undefined] ? { args: InferOutput<AS>; kwargs: InferOutput<KS> } : InferOutput<IS>>;
  /**
   * Flow control by key, fleet-wide: at most `limit` tasks of one key run at once across every
   * worker process, and keys take fair turns (docs/architecture.md). @default no limit
   */
  concurrency?: ConcurrencyConfig<[IS] extends [undefined] ? { args: InferOutput<AS>; kwargs: InferOutput<KS> } : InferOutput<IS>>;
  /** The implementation, `run(input, ctx)` with `input`, else `run(args, kwargs, ctx)`; required unless `external`. */
  run?: [IS] extends [undefined] ? TaskRun<InferOutput<AS>, InferOutput<KS>, R> : InputRun<InferOutput<IS>, R>;
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
  /** `x-max-priority` of the task's queue (see TaskConfig.maxPriority). */
  maxPriority?: number;
  args: AnyArgsSchema;
  kwargs: AnyKwargsSchema;
  /** `input`: one object, carried as kwargs (args always empty). @default 'args' */
  style?: TaskStyle;
  cpu: boolean;
  description: string;
  retry?: Partial<RetryPolicy>;
  timeLimitS?: number;
  softTimeLimitS?: number;
  external?: boolean;
  /** @see TaskConfig.result; absent means `full`. */
  result?: ResultMode;
  /** @see TaskConfig.rateLimit, with `limit` read into `perSecond`. */
  rateLimit?: RateLimitDefinition;
  /** @see TaskConfig.concurrency; absent means no limit. */
  concurrency?: ConcurrencyConfig;
  run?: TaskRun<unknown[], Record<string, unknown>, unknown>;
}

const TASK_BRAND: unique symbol = Symbol.for('celerity.task');

/**
 * A defined task. The type parameters are what `run` gets (`A`, `K`: for a one-object task, `[]`
 * and its input), what it returns (`R`), what a caller passes (`AIn`, `KIn`: the schemas' input
 * types), its name (`N`, for by-name calls typed from an app) and its style (`S`).
 */
export interface Task<A = unknown[], K = Record<string, unknown>, R = unknown, AIn = A, KIn = K, N extends string = string, S extends TaskStyle = TaskStyle>
  extends TaskDefinition {
  readonly [TASK_BRAND]: true;
  name: N;
  /** Type-only: never set at run time. */
  readonly '~types'?: { args: A; kwargs: K; result: R; argsInput: AIn; kwargsInput: KIn; style: S };
  /**
   * A signature of this task, as Celery's `task.s(...)`: a step of `chain`, `group` or `chord`
   * (`s(input, options?)` for a one-object task, `s(args?, kwargs?, options?)` otherwise; a later
   * chain step or a chord body may leave out the first argument, which the previous result fills).
   */
  s(...call: SignatureCall<AIn, KIn, S>): TaskSignature<R>;
}

type TypesOf<T> = T extends { readonly '~types'?: infer X } ? NonNullable<X> : never;
/** What a caller passes as a task's positional arguments (the args schema's input type), for typed clients. */
export type TaskArgs<T> = TypesOf<T> extends { argsInput: infer AIn } ? AIn : unknown[];
/** What a caller passes as a task's keyword arguments (the kwargs schema's input type). */
export type TaskKwargs<T> = TypesOf<T> extends { kwargsInput: infer KIn } ? KIn : Record<string, unknown>;
/** What a caller passes to a one-object task (its input schema's input type): the same as its kwargs. */
export type TaskInput<T> = TaskKwargs<T>;
/** What a task's `run` resolves with: what `result()` gives a caller. */
export type TaskResult<T> = TypesOf<T> extends { result: infer R } ? R : unknown;
/** `input` for a one-object task, `args` for a positional one, `TaskStyle` when not known. */
export type TaskStyleOf<T> = TypesOf<T> extends { style: infer S } ? S : TaskStyle;

/** What `defineTask` returns for a config with these schemas. */
export type DefinedTask<N extends string, AS, KS, IS, R> = [IS] extends [undefined]
  ? Task<InferOutput<AS>, InferOutput<KS>, Awaited<R>, InferInput<AS>, InferInput<KS>, N, 'args'>
  : Task<[], InferOutput<IS>, Awaited<R>, [], InferInput<IS>, N, 'input'>;

/** Whether `value` was made by `defineTask` (or `externalTask`): how app modules' exports are told apart. */
export function isTask(value: unknown): value is Task {
  return typeof value === 'object' && value !== null && (value as Record<PropertyKey, unknown>)[TASK_BRAND] === true;
}

const anyArgs: AnyArgsSchema = z.array(z.unknown());
const anyKwargs: AnyKwargsSchema = z.record(z.string(), z.unknown());
/** A one-object task's positional args: none, with a message that says where its fields go. */
const noArgs: AnyArgsSchema = z
  .array(z.unknown())
  .max(0, { message: 'this task takes one object of named fields: send them as kwargs ({"kwargs": {...}} over HTTP, task.delay(field=...) from Python), with no positional args' });

/** Thrown when a definition is wrong: at import time, naming the task and the field. */
function invalid(name: unknown, message: string): never {
  throw new CelerityError('INVALID_TASK_DEFINITION', `defineTask(${typeof name === 'string' ? JSON.stringify(name) : '?'}): ${message}`);
}

function checkSeconds(name: string, field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) invalid(name, `${field} must be a positive number of seconds`);
}

const OBJECT_FIX = 'for one object of named fields write input: z.object({...}) and run(input, ctx) (callers send it as kwargs)';
/** What each schema field must be able to take, and what to do instead. */
const SHAPE_RULES: ReadonlyArray<{ field: 'args' | 'kwargs' | 'input'; shape: ValueShape; fix: string }> = [
  { field: 'args', shape: 'array', fix: `args are positional (an array), e.g. z.tuple([z.string()]); ${OBJECT_FIX}` },
  { field: 'kwargs', shape: 'object', fix: 'kwargs are named (an object), e.g. z.object({ lower: z.boolean() })' },
  { field: 'input', shape: 'object', fix: 'input is one object of named fields, e.g. z.object({ url: z.string() }); for positional arguments write args: z.tuple([...])' },
];


/** Each schema given is a schema, of a shape the wire can carry there (see schema-shape.ts). */
function checkSchemas(name: string, config: { args?: unknown; kwargs?: unknown; input?: unknown }): void {
  for (const { field, shape, fix } of SHAPE_RULES) {
    const schema = config[field];
    if (schema === undefined) continue;
    if (!isStandardSchema(schema)) invalid(name, `${field} must be a zod schema (or another Standard Schema v1 validator)`);
    if (mayAccept(schema, shape) === false) invalid(name, `the ${field} schema can never accept ${shape === 'array' ? 'an array' : 'an object'}: ${fix}`);
  }
  if (config.input !== undefined && (config.args !== undefined || config.kwargs !== undefined)) {
    invalid(name, 'give input (one object), or args and kwargs (Celery-style), not both');
  }
}

/** Declares a task. Checks the definition at once, so a mistake fails at import, not at run time. */
export function defineTask<
  const N extends string,
  AS extends AnyArgsSchema = StandardSchemaV1<unknown[], unknown[]>,
  KS extends AnyKwargsSchema = StandardSchemaV1<Record<string, unknown>, Record<string, unknown>>,
  IS extends AnyKwargsSchema | undefined = undefined,
  R = unknown,
>(config: TaskConfig<N, AS, KS, IS, R>): DefinedTask<N, AS, KS, IS, R> {
  const name: unknown = (config as { name?: unknown } | undefined)?.name;
  if (!isValidTaskName(name)) invalid(name, `name must be ${TASK_NAME_RULE}`);
  const queue = config.queue ?? DEFAULT_TASK_QUEUE;
  if (!isValidQueueName(queue)) invalid(name, `queue "${String(queue)}" is not a valid queue name (${QUEUE_NAME_RULE})`);
  if (config.queueType !== undefined && !(QUEUE_TYPE_NAMES as readonly unknown[]).includes(config.queueType)) {
    invalid(name, `queueType must be ${QUEUE_TYPE_NAMES.join(' or ')}`);
  }
  if (config.maxPriority !== undefined && !(Number.isInteger(config.maxPriority) && config.maxPriority >= MIN_MAX_PRIORITY && config.maxPriority <= MAX_MAX_PRIORITY)) {
    invalid(name, `maxPriority must be a whole number from ${MIN_MAX_PRIORITY} to ${MAX_MAX_PRIORITY} (10 or less recommended)`);
  }
  if (config.maxPriority !== undefined && config.queueType === 'quorum') {
    invalid(name, 'maxPriority needs a classic queue: quorum queues take no x-max-priority (see the README\'s "Priorities")');
  }
  checkSchemas(name, config);
  if (config.run !== undefined && typeof config.run !== 'function') invalid(name, 'run must be a function');
  if (config.external && config.run !== undefined) invalid(name, 'an external task has no run: it is implemented outside Celerity');
  if (config.external && config.cpu) invalid(name, 'an external task cannot be cpu: true');
  checkSeconds(name, 'timeLimitS', config.timeLimitS);
  checkSeconds(name, 'softTimeLimitS', config.softTimeLimitS);
  if (config.result !== undefined && !isResultMode(config.result)) invalid(name, `result must be ${RESULT_MODES.join(', ')}`);
  const rate = config.rateLimit === undefined ? undefined : readRateLimit(config.rateLimit);
  if (rate && !rate.ok) invalid(name, rate.problem);
  if (rate && config.external) invalid(name, 'an external task cannot have a rateLimit: Celerity workers do not run it');
  const concurrency = config.concurrency === undefined ? undefined : readConcurrency(config.concurrency);
  if (concurrency && !concurrency.ok) invalid(name, concurrency.problem);
  if (concurrency && config.external) invalid(name, 'an external task cannot have a concurrency limit: Celerity workers do not run it');
  const input = config.input;
  const run = config.run as ((...params: unknown[]) => unknown) | undefined;
  const task: TaskDefinition & { [TASK_BRAND]: true; s: (...call: unknown[]) => TaskSignature } = {
    [TASK_BRAND]: true,
    name,
    queue,
    ...(config.queueType ? { queueType: config.queueType } : {}),
    ...(config.maxPriority !== undefined ? { maxPriority: config.maxPriority } : {}),
    args: input ? noArgs : (config.args ?? anyArgs),
    kwargs: input ?? config.kwargs ?? anyKwargs,
    style: input ? 'input' : 'args',
    cpu: config.cpu ?? false,
    description: config.description ?? '',
    ...(config.retry ? { retry: { ...config.retry } } : {}),
    ...(config.timeLimitS !== undefined ? { timeLimitS: config.timeLimitS } : {}),
    ...(config.softTimeLimitS !== undefined ? { softTimeLimitS: config.softTimeLimitS } : {}),
    ...(config.external ? { external: true } : {}),
    ...(config.result !== undefined && config.result !== 'full' ? { result: config.result } : {}),
    ...(rate?.ok ? { rateLimit: rate.rateLimit } : {}),
    ...(concurrency?.ok ? { concurrency: concurrency.concurrency } : {}),
    // The worker calls every task as run(args, kwargs, ctx); a one-object task's input is its kwargs.
    ...(run ? { run: input ? (_args: unknown[], kwargs: Record<string, unknown>, ctx: TaskContext) => run(kwargs, ctx) : run } : {}),
    s: (...call: unknown[]) => signatureOf(name, input !== undefined, call),
  };
  return Object.freeze(task) as unknown as DefinedTask<N, AS, KS, IS, R>;
}

/**
 * A task that Python Celery workers (or any Celery-protocol worker) implement: any args and
 * kwargs, routed to `queue`. Add it to the gateway's tasks so the gateway accepts the name.
 */
export function externalTask(name: string, queue: string, description = `Runs on a Celery worker consuming "${queue}".`): Task {
  return defineTask({ name, queue, description, external: true });
}
