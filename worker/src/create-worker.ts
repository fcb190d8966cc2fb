/**
 * `createWorker`: a worker started from code, as `celerity worker --app` starts one from the
 * command line. Settings not given come from the environment, as for the CLI.
 */
import { availableParallelism } from 'node:os';
import { Catalogue, loadApp, type TaskDefinition } from '../../shared/src/app/index.js';
import { CelerityError, loggerFromConfig, type Logger } from '../../shared/src/core/index.js';
import { ensureSchemaAt } from '../../shared/src/store/index.js';
import { loadWorkerConfig } from '../../shared/src/config/index.js';
import { Worker } from './worker.js';

/** Options of {@link createWorker}. Give `app` or `tasks`. */
export interface CreateWorkerOptions {
  /** Path (relative to the current directory) or `file:` URL of the app module whose tasks to run. Needed for `cpu: true` tasks. */
  app?: string | URL;
  /** The tasks to run, when not loading a module (in-process tasks only, unless `app` is given too). */
  tasks?: readonly TaskDefinition[];
  /** Queues to consume. @default WORKER_QUEUES, else the queues the tasks name */
  queues?: string[];
  /** Tasks run at once. @default WORKER_CONCURRENCY, else 16 */
  concurrency?: number;
  /**
   * Autoscale the concurrency between `min` and `max` (Celery's `--autoscale max,min`): grow
   * while the queues have ready messages, shrink after `coolDownMs` without. Overrides
   * `concurrency` (it starts at `min`). @default WORKER_AUTOSCALE, else fixed concurrency.
   * `min` @default 1; `tickMs` @default 1000; `coolDownMs` @default 30000
   */
  autoscale?: { max: number; min?: number; tickMs?: number; coolDownMs?: number };
  /** Threads for `cpu: true` tasks. @default WORKER_CPU_THREADS, else the number of CPUs */
  cpuThreads?: number;
  /** Broker URL(s). @default AMQP_URL, else amqp://guest:guest@127.0.0.1:5672 */
  amqpUrl?: string | string[];
  /** PostgreSQL URL. @default DATABASE_URL, else the local database `celerity` */
  databaseUrl?: string;
  /** PostgreSQL schema holding Celerity's tables (run `celerity migrate` for it first). @default DATABASE_SCHEMA, else 'celerity' */
  databaseSchema?: string;
  /** Serve `/metrics` and `/healthz` on this port (0 = any free port). @default no metrics server */
  metricsPort?: number;
  /** Publish task events on `celeryev`, as Celery's `-E`. @default WORKER_TASK_EVENTS, else false */
  taskEvents?: boolean;
  /**
   * Migrate the database schema at start when it is behind (under an advisory lock); false
   * refuses to start instead. A newer schema is always refused. @default AUTO_MIGRATE, else true
   */
  autoMigrate?: boolean;
  /** Where the worker logs. @default stdout at LOG_LEVEL, in LOG_FORMAT (pretty on a terminal, JSON otherwise) */
  logger?: Logger;
  /** The environment settings default from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
}

/** A running worker. */
export interface CelerityWorker {
  /** The name recorded with each task it runs (`celerity@host:pid`). */
  readonly name: string;
  /** The queues it consumes. */
  readonly queues: readonly string[];
  /** The underlying worker (state, metrics, `force()`). */
  readonly worker: Worker;
  /** Stops consuming, lets running tasks finish within the grace period, closes everything. Safe to call twice. */
  close(): Promise<void>;
}

/** The tasks and module URL of `app` and/or `tasks`. */
async function resolveTasks(options: { app?: string | URL; tasks?: readonly TaskDefinition[] }): Promise<{ tasks: TaskDefinition[]; appUrl?: string }> {
  if (options.app === undefined && options.tasks === undefined) throw new CelerityError('INVALID_APP', 'give the app module (app) or the tasks (tasks)');
  const loaded = options.app !== undefined ? await loadApp(options.app) : undefined;
  const tasks = [...(loaded?.tasks ?? []), ...(options.tasks ?? [])];
  return { tasks, ...(loaded ? { appUrl: loaded.url } : {}) };
}

/**
 * Starts a worker: loads the app, connects to the broker and the database, and resolves once
 * it is consuming. Rejects (having closed what it opened) when it cannot start.
 */
export async function createWorker(options: CreateWorkerOptions): Promise<CelerityWorker> {
  const { tasks, appUrl } = await resolveTasks(options);
  const env = { ...(options.env ?? process.env) };
  if (options.amqpUrl !== undefined) env.AMQP_URL = [options.amqpUrl].flat().join(',');
  if (options.databaseUrl !== undefined) env.DATABASE_URL = options.databaseUrl;
  if (options.databaseSchema !== undefined) env.DATABASE_SCHEMA = options.databaseSchema;
  if (options.cpuThreads !== undefined) env.WORKER_CPU_THREADS = String(options.cpuThreads);
  if (options.taskEvents !== undefined) env.WORKER_TASK_EVENTS = String(options.taskEvents);
  const config = loadWorkerConfig(
    env,
    {
      ...(options.queues ? { queues: options.queues.join(',') } : {}),
      ...(options.concurrency !== undefined ? { concurrency: String(options.concurrency) } : {}),
      ...(options.autoscale ? { autoscale: `${options.autoscale.max},${options.autoscale.min ?? 1}` } : {}),
    },
    { queues: new Catalogue(tasks).workerQueues(), cpus: availableParallelism() },
  );
  const logger = options.logger ?? loggerFromConfig('worker', config);
  // Before consuming: never run a task whose outcome the store could not take.
  await ensureSchemaAt(config.databaseUrl, config.databaseSchema, logger, { migrate: options.autoMigrate ?? config.autoMigrate });
  const worker = await Worker.create({
    config,
    logger,
    schema: config.databaseSchema,
    tasks,
    ...(appUrl ? { appUrl } : {}),
    ...(options.autoscale ? { autoscaleTiming: { tickMs: options.autoscale.tickMs, coolDownMs: options.autoscale.coolDownMs } } : {}),
    ...(options.metricsPort !== undefined ? { metrics: { port: options.metricsPort } } : {}),
  });
  return { name: worker.name, queues: config.queues, worker, close: () => worker.stop() };
}
