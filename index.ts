/**
 * Celerity's public API: what `import … from 'celerity'` gives. Importing it starts nothing
 * (no connection, no timer); the factories below do, when called.
 *
 * @packageDocumentation
 */
/** zod, the schema library task definitions use: `import { z } from 'celerity'` needs no second copy. */
export { z } from 'zod';
export {
  DEFAULT_TASK_QUEUE,
  TASK_NAME_RULE,
  defineTask,
  externalTask,
  isTask,
  isValidTaskName,
  type Task,
  type TaskArgs,
  type TaskConfig,
  type TaskContext,
  type TaskDefinition,
  type TaskInput,
  type TaskKwargs,
  type TaskResult,
  type TaskRun,
  type TaskStyle,
  type InputRun,
  type RateLimit,
  type ConcurrencyConfig,
  type ConcurrencyStrategy,
} from './shared/src/app/index.js';
export {
  defineSchedule,
  type CatchUpPolicy,
  type OverlapPolicy,
  type Schedule,
  type ScheduleConfig,
} from './shared/src/app/index.js';
export type { StandardSchemaV1, InferInput, InferOutput } from './shared/src/app/index.js';
export { loadApp, type LoadAppOptions, type LoadedApp } from './shared/src/app/index.js';
export {
  CelerityError,
  ConfigError,
  PermanentError,
  RateLimitedError,
  RetryableError,
  isPermanentError,
  isRetryableError,
  type ErrorCode,
} from './shared/src/core/index.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './shared/src/core/index.js';
import type { Logger as WinstonLogger, TaskRepresentation as Representation, TaskState as State } from './shared/src/core/index.js';

/** The logger Celerity uses and gives tasks as `ctx.logger` (a winston logger). */
export type Logger = WinstonLogger;
/** A task's state, with Celery's names: PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED. */
export type TaskState = State;
/** A task as the HTTP API returns it: id, name, queue, state, args, kwargs, result, error, retries, times, worker. */
export type TaskRepresentation = Representation;
import type { CelerityWorker, CreateWorkerOptions } from './worker/src/create-worker.js';
import type { Client, ClientOptions } from './shared/src/client/index.js';
export type {
  Client,
  ClientOptions,
  ClientSubmitOptions,
  SubmitItem,
} from './shared/src/client/index.js';
export type { TaskHandle, ResultOptions } from './shared/src/client/index.js';
export type { RunView, ScheduleChanges, ScheduleView } from './shared/src/client/index.js';
export type { SubmitOptions } from './shared/src/submit/index.js';
export type { SubmitManyOutcome } from './shared/src/client/index.js';
/** The outcome errors of `handle.result()` and `client.submitMany()`; a light module, safe to import eagerly. */
export { TaskFailedError, TaskTimeoutError, SubmitManyError } from './shared/src/client/index.js';
/** Workflows (docs/workflows.md): `client.workflow(chain(a.s([1, 2]), b.s([3])))`. */
export { chain, chord, group, type Workflow, type WorkflowHandle, type WorkflowRepresentation } from './shared/src/client/index.js';
export type { StepOptions, TaskSignature } from './shared/src/client/index.js';
import type { CelerityGateway, CreateGatewayOptions } from './gateway/src/create-gateway.js';
export type { CelerityWorker, CreateWorkerOptions, CelerityGateway, CreateGatewayOptions };

// The worker and the gateway (Express, amqplib, pg, prom-client...) load on first use: an app
// module imports this entry, and so does every thread of the worker's pool that loads it, so
// importing it must stay cheap (measured: a third of the time the full graph takes).

/**
 * Starts a worker from code, as `celerity worker --app` does: loads the app, connects to the
 * broker and the database, and resolves once it consumes. Settings not given come from the
 * environment (AMQP_URL, DATABASE_URL, WORKER_*). `close()` stops it gracefully and is safe to
 * call twice.
 *
 *   const worker = await createWorker({ app: './tasks.js', concurrency: 8 });
 *   process.on('SIGTERM', () => void worker.close());
 */
export async function createWorker(options: CreateWorkerOptions): Promise<CelerityWorker> {
  const { createWorker: create } = await import('./worker/src/create-worker.js');
  return create(options);
}

/**
 * Starts the HTTP gateway from code, as `celerity gateway --app` does: it accepts exactly the
 * app's tasks (plus GATEWAY_EXTERNAL_TASKS) and resolves once it listens. Settings not given
 * come from the environment (GATEWAY_*, AUTH_*...). `close()` drains and is safe to call twice.
 *
 *   const gateway = await createGateway({ app: './tasks.js', port: 8080 });
 *   console.log(gateway.url);
 */
export async function createGateway(options: CreateGatewayOptions): Promise<CelerityGateway> {
  const { createGateway: create } = await import('./gateway/src/create-gateway.js');
  return create(options);
}

/**
 * Connects a Node client to the broker and the store (back-end code; frontends use the HTTP
 * API). Options default to the same environment variables as the gateway (`AMQP_URL`,
 * `DATABASE_URL`, ...); an invalid one rejects with a `ConfigError` naming it.
 *
 *   const client = await createClient({ tasks: app });
 *   const handle = await client.submit(resize, { url, width: 200 }); // resolves after the broker's confirm
 *   const out = await handle.result({ timeoutMs: 10_000 });
 *   await client.close();
 *
 * With `tasks`, an unknown name is refused before publishing (`UNKNOWN_TASK`), arguments are
 * checked against the task's schemas, and by-name calls are typed from the app (so are they
 * with `createClient<typeof app>()`); without, a name is published as-is, like Celery's
 * `send_task`. Loaded on first call, like `createWorker`.
 */
export async function createClient<App = unknown>(options: ClientOptions<App> = {}): Promise<Client<App>> {
  const { createClient: create } = await import('./shared/src/client/index.js');
  return create<App>(options);
}
