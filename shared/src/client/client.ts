/**
 * The Node client: submit tasks from back-end code and read their results, through the same
 * submit and wait path as the gateway (core.ts), without HTTP in between.
 *
 *   const client = await createClient();              // AMQP_URL, DATABASE_URL, ... as defaults
 *   const h = await client.submit(add, [1, 2]);       // resolves after the broker's confirm
 *   const sum = await h.result({ timeoutMs: 5000 });  // typed from add's definition
 *   await client.close();
 *
 * Unknown task names: a client given `tasks` knows exactly those and refuses any other name
 * before publishing (UNKNOWN_TASK); a client given no tasks publishes any name as-is, like
 * Celery's `send_task`, to `options.queue` or the default queue `celery`, with no argument check.
 */
import { isTask, isValidTaskName, DEFAULT_TASK_QUEUE, TASK_NAME_RULE, externalTask, type Task, type TaskArgs, type TaskDefinition, type TaskKwargs, type TaskResult } from '../app/define-task.js';
import { connectBroker, type Broker } from '../amqp/connection.js';
import { Catalogue } from '../catalogue.js';
import { loadCommonConfig, type LogLevel } from '../config.js';
import { createPool } from '../db/pool.js';
import { CelerityError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { ClientCore } from './core.js';
import { SubmitManyError } from './errors.js';
import { TaskHandle } from './handle.js';
import { isValidIdempotencyKey } from './idempotent-submits.js';
import { prepareSubmission, type Submission, type SubmitOptions } from './submission.js';
import { stamp } from '../trace.js';

export interface ClientOptions {
  /** Broker URL; a comma-separated list means cluster nodes to fail over between. @default AMQP_URL, else amqp://guest:guest@127.0.0.1:5672 */
  amqpUrl?: string;
  /** PostgreSQL URL of the result store. @default DATABASE_URL, else the local database `celerity` */
  databaseUrl?: string;
  /** Schema holding Celerity's tables. @default DATABASE_SCHEMA, else 'celerity' */
  databaseSchema?: string;
  /**
   * The tasks this client knows: an array of `defineTask` values, or an imported app module
   * (`import * as app from './tasks.js'`: every task among its exports). Given, names are
   * checked before publishing and arguments validated; absent, names are sent as-is.
   */
  tasks?: Iterable<TaskDefinition> | Readonly<Record<string, unknown>>;
  /** @default a console logger at LOG_LEVEL, else `warn` */
  logger?: Logger;
  /** Where the defaults above come from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Largest args + kwargs of one task, as JSON bytes. @default no limit */
  maxArgsBytes?: number;
  /**
   * Most bytes the client's task ledger keeps (the replies of your submits, their arguments),
   * estimated from their JSON; past it, the oldest nobody waits on are forgotten (a later
   * `result()` reads the store). @default DEFAULT_LEDGER_MAX_BYTES (32 MiB)
   */
  ledgerMaxBytes?: number;
}

/** Submit options: those of the HTTP API, plus `idempotencyKey` (the `Idempotency-Key` header). */
export type ClientSubmitOptions = SubmitOptions & {
  /** The same key within its window (24 h) returns the same task instead of submitting a new one. */
  idempotencyKey?: string;
};

/** One item of `submitMany`. */
export interface SubmitItem {
  task: Task | string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: SubmitOptions;
}

/** The tasks among `tasks`: an iterable of definitions, or a module's exports (default export included). */
function collectTasks(tasks: ClientOptions['tasks']): TaskDefinition[] {
  if (!tasks) return [];
  if (Symbol.iterator in tasks) return [...tasks];
  const found: TaskDefinition[] = [];
  for (const value of Object.values(tasks)) {
    if (isTask(value)) found.push(value);
    else if (Array.isArray(value)) found.push(...value.filter(isTask));
    else if (typeof value === 'object' && value !== null) found.push(...Object.values(value).filter(isTask));
  }
  // A task exported twice (named and in the default export) is one task.
  return [...new Set(found)];
}

export class Client {
  readonly #core: ClientCore;
  readonly #known: boolean;
  readonly #maxArgsBytes: number | undefined;
  readonly #release: () => Promise<void>;
  #closing: Promise<void> | undefined;

  private constructor(core: ClientCore, known: boolean, maxArgsBytes: number | undefined, release: () => Promise<void>) {
    this.#core = core;
    this.#known = known;
    this.#maxArgsBytes = maxArgsBytes;
    this.#release = release;
  }

  /** @internal Use `createClient`. */
  static async create(options: ClientOptions = {}): Promise<Client> {
    const env = options.env ?? process.env;
    // Options override the environment, and go through the same validation (ConfigError names the option's variable).
    const config = loadCommonConfig({
      ...env,
      ...(options.amqpUrl !== undefined ? { AMQP_URL: options.amqpUrl } : {}),
      ...(options.databaseUrl !== undefined ? { DATABASE_URL: options.databaseUrl } : {}),
      ...(options.databaseSchema !== undefined ? { DATABASE_SCHEMA: options.databaseSchema } : {}),
    });
    const logger = options.logger ?? createLogger({ service: 'celerity-client', level: env.LOG_LEVEL ? config.logLevel : ('warn' satisfies LogLevel) });
    const definitions = collectTasks(options.tasks);
    const catalogue = new Catalogue(definitions);
    const pool = createPool({ url: config.databaseUrl, schema: config.databaseSchema, logger, applicationName: 'celerity-client', max: 4 });
    let broker: Broker | undefined;
    try {
      broker = await connectBroker(config, logger, 'celerity-client');
      const core = await ClientCore.create({
        broker,
        pool,
        logger,
        catalogue,
        ...(config.queueTypes ? { queueTypes: config.queueTypes } : {}),
        ...(options.maxArgsBytes !== undefined ? { maxArgsBytes: options.maxArgsBytes } : {}),
        ...(options.ledgerMaxBytes !== undefined ? { ledgerMaxBytes: options.ledgerMaxBytes } : {}),
      });
      const connected = broker;
      return new Client(core, definitions.length > 0, options.maxArgsBytes, async () => {
        await connected.close();
        await pool.end();
      });
    } catch (err) {
      await broker?.close();
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  /** @internal The submit path underneath (tests reach its broker connection and reply listener through it). */
  get core(): ClientCore {
    return this.#core;
  }

  /** The name of this client's reply queue while connected (replies to its submits arrive there). */
  get replyQueue(): string | undefined {
    return this.#core.replies.replyTo;
  }

  /**
   * Submits a task; resolves once the broker confirmed the message (the task will run), with
   * a handle on it. A task definition types `args`, `kwargs` and the handle's result; a name is
   * untyped. Rejects with a CelerityError: INVALID_ARGUMENTS / INVALID_OPTIONS before
   * publishing, UNKNOWN_TASK for a name this client does not know (when it was given tasks),
   * BROKER_UNAVAILABLE / QUEUE_UNAVAILABLE / QUEUE_FULL when nothing was promised.
   */
  submit<T extends Task>(task: T, args?: TaskArgs<T>, kwargs?: TaskKwargs<T>, options?: ClientSubmitOptions): Promise<TaskHandle<TaskResult<T>>>;
  submit(name: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: ClientSubmitOptions): Promise<TaskHandle<unknown>>;
  async submit(task: Task | string, args?: unknown, kwargs?: unknown, options: ClientSubmitOptions = {}): Promise<TaskHandle<unknown>> {
    this.#assertOpen();
    const { idempotencyKey, ...submitOptions } = options;
    const submission = this.#prepare(task, args, kwargs, submitOptions);
    stamp(submission.id, 'submit');
    if (idempotencyKey !== undefined && !isValidIdempotencyKey(idempotencyKey)) {
      throw new CelerityError('INVALID_IDEMPOTENCY_KEY', 'idempotencyKey must be 1 to 255 printable ASCII characters');
    }
    const answer = await this.#core.submit(submission, { wantReply: true, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) });
    return this.#handle(answer.id, answer.published);
  }

  /**
   * Submits many tasks: every item is validated before anything is published (an error names
   * the failing index), then all are published with their confirms pipelined. Resolves with a
   * handle per item, in order. When some are confirmed and others not, rejects with
   * SubmitManyError, whose `outcomes` say which will run.
   */
  async submitMany(items: readonly SubmitItem[]): Promise<TaskHandle<unknown>[]> {
    this.#assertOpen();
    const submissions = items.map((item, index) => {
      try {
        return this.#prepare(item.task, item.args, item.kwargs, item.options ?? {});
      } catch (err) {
        if (!(err instanceof CelerityError)) throw err;
        throw new CelerityError(err.code, `items[${index}]: ${err.message}`, { cause: err });
      }
    });
    const outcomes = await this.#core.submitter.submitMany(submissions, { wantReply: true });
    const failed = outcomes.findIndex((outcome) => outcome.status === 'rejected');
    if (failed === -1) return submissions.map((s) => this.#handle(s.id, true));
    const first = (outcomes[failed] as PromiseRejectedResult).reason as unknown;
    const count = outcomes.filter((o) => o.status === 'rejected').length;
    throw new SubmitManyError(
      first instanceof CelerityError ? first.code : 'BROKER_UNAVAILABLE',
      `${count} of ${submissions.length} tasks were not published (first at index ${failed}: ${first instanceof Error ? first.message : String(first)}); the others were published and will run`,
      submissions.map((s, index) => {
        const outcome = outcomes[index];
        return {
          id: s.id,
          name: s.name,
          published: outcome?.status === 'fulfilled',
          ...(outcome?.status === 'rejected' ? { error: outcome.reason as unknown } : {}),
        };
      }),
      { cause: first },
    );
  }

  /** A handle on a task by id, whoever submitted it (no I/O until you call a method). */
  get<R = unknown>(id: string): TaskHandle<R> {
    this.#assertOpen();
    return this.#handle<R>(id, false);
  }

  /**
   * Stops: pending `result()` calls reject with SHUTTING_DOWN, queued PENDING rows are written,
   * then the reply queue, the broker connection and the database pool close. Safe to call
   * twice: the second caller gets the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const failures: unknown[] = [];
      await this.#core.close().catch((err: unknown) => failures.push(err));
      await this.#release().catch((err: unknown) => failures.push(err));
      if (failures.length > 0) throw new AggregateError(failures, 'the client closed with errors');
    })();
    return this.#closing;
  }

  #prepare(task: Task | string, args: unknown, kwargs: unknown, options: SubmitOptions): Submission {
    const definition = this.#definition(task, options.queue);
    return prepareSubmission(definition, { args, kwargs, options }, this.#maxArgsBytes);
  }

  #definition(task: Task | string, queue: string | undefined): TaskDefinition {
    if (isTask(task)) return task;
    if (typeof task !== 'string') throw new CelerityError('INVALID_REQUEST', 'submit() takes a task defined with defineTask, or a task name');
    const known = this.#core.catalogue.get(task);
    if (known) return known;
    if (this.#known) throw new CelerityError('UNKNOWN_TASK', `Unknown task "${task}": this client was given tasks, and this is not one of them`);
    const invalidName = `Invalid task name "${task}": ${TASK_NAME_RULE}`;
    if (!isValidTaskName(task)) throw new CelerityError('INVALID_REQUEST', invalidName);
    // Sent as-is, like Celery's send_task: whatever consumes the queue implements it (perhaps a
    // Python worker, whose result only a reply carries, so the submitter always asks for one).
    return externalTask(task, queue ?? DEFAULT_TASK_QUEUE);
  }

  #handle<R>(id: string, submittedHere: boolean): TaskHandle<R> {
    return new TaskHandle<R>(id, this.#core, { submittedHere, isClosed: () => this.#closing !== undefined });
  }

  #assertOpen(): void {
    if (this.#closing) throw new CelerityError('SHUTTING_DOWN', 'The client is closed');
  }
}

/**
 * Connects a client (broker and result store) and resolves once it can submit; rejects with
 * a clear error when the broker is unreachable or a setting is invalid. Every option
 * defaults to the environment variable the gateway and worker read (AMQP_URL, DATABASE_URL,
 * DATABASE_SCHEMA, AMQP_* TLS files, LOG_LEVEL). Call `close()` when done.
 */
export function createClient(options: ClientOptions = {}): Promise<Client> {
  return Client.create(options);
}
