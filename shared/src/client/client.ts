/**
 * The Node client: submit tasks from back-end code and read their results, through the same
 * submit and wait path as the gateway (core.ts), without HTTP in between.
 *
 *   const client = await createClient({ tasks: app });           // AMQP_URL, DATABASE_URL, ... as defaults
 *   const h = await client.submit(resize, { url, width: 200 });  // resolves after the broker's confirm
 *   const out = await h.result({ timeoutMs: 5000 });             // typed from resize's definition
 *   await client.close();
 *
 * Unknown task names: a client given `tasks` knows exactly those and refuses any other name
 * before publishing (UNKNOWN_TASK), and types by-name calls from them; a client given no tasks
 * publishes any name as-is, like Celery's `send_task`, to `options.queue` or the default queue
 * `celery`, with no argument check.
 */
import {
  Catalogue,
  collectTasks,
  DEFAULT_TASK_QUEUE,
  externalTask,
  isTask,
  isValidTaskName,
  type Task,
  TASK_NAME_RULE,
  type TaskDefinition,
  type TaskSource,
} from '../app/index.js';
import { connectBroker, type Broker } from '../broker/index.js';
import { loadCommonConfig } from '../config/index.js';
import {
  CelerityError,
  createLogger,
  type Logger,
  type LogLevel,
  stamp,
} from '../core/index.js';
import { ScheduleAdmin } from '../schedule/index.js';
import { createPool, WorkflowStore } from '../store/index.js';
import {
  assertNoDedupe,
  ClientCore,
  isValidIdempotencyKey,
  prepareSubmission,
  Revoker,
  type Submission,
  type SubmitOptions,
  Workflows,
} from '../submit/index.js';
import { SubmitManyError } from './errors.js';
import { TaskHandle } from './handle.js';
import type { AnyTask, SubmitCall, SubmitResult, TaskNameOf } from './submit-types.js';
import { WorkflowHandle, type Workflow } from './canvas.js';
import { appSchedules, callParts } from './call-parts.js';

export type { ClientSubmitOptions } from './submit-types.js';

/** `App`: the type of the tasks given (`typeof app`), which types by-name calls; `unknown` when none. */
export interface ClientOptions<App = unknown> {
  /** Broker URL; a comma-separated list means cluster nodes to fail over between. @default AMQP_URL, else amqp://guest:guest@127.0.0.1:5672 */
  amqpUrl?: string;
  /** PostgreSQL URL of the result store. @default DATABASE_URL, else the local database `celerity` */
  databaseUrl?: string;
  /** Schema holding Celerity's tables. @default DATABASE_SCHEMA, else 'celerity' */
  databaseSchema?: string;
  /**
   * The tasks this client knows: an array of `defineTask` values, or an imported app module
   * (`import * as app from './tasks.js'`: its exported tasks, and those of a default export
   * that is an array or object of them). Given, names are checked before publishing, arguments
   * validated, and by-name calls typed; absent, names are sent as-is.
   */
  tasks?: App & TaskSource;
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

/** One item of `submitMany`. */
export interface SubmitItem {
  task: Task | string;
  /** A one-object task's input (sent as kwargs), instead of `args` / `kwargs`. */
  input?: Record<string, unknown>;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: SubmitOptions;
}

export class Client<App = unknown> {
  readonly #core: ClientCore;
  readonly #known: boolean;
  readonly #maxArgsBytes: number | undefined;
  readonly #release: () => Promise<void>;
  readonly #revoker: Revoker;
  readonly #workflows: Workflows;
  #closing: Promise<void> | undefined;
  /**
   * Schedules at run time (docs/schedules.md): `list()`, `get(name)`, `runs(name)`,
   * `create({ name, task, every | cron, args, kwargs, options, timezone, overlap, catchUp,
   * catchUpWindow, paused })`, `update(name, changes)`, `delete(name)`, `pause(name)`,
   * `resume(name)`, `trigger(name)`, `backfill(name, from, to)`. Validated as a submit is.
   */
  readonly schedules: ScheduleAdmin;

  private constructor(
    core: ClientCore,
    revoker: Revoker,
    known: boolean,
    maxArgsBytes: number | undefined,
    release: () => Promise<void>,
    schedules: ScheduleAdmin,
    workflowParts: { store: WorkflowStore; logger: Logger },
  ) {
    this.schedules = schedules;
    this.#core = core;
    this.#revoker = revoker;
    // A name this client does not know goes as-is, as for submit (#definition decides).
    const prepare = (name: string, body: unknown, complete: boolean): Submission =>
      prepareSubmission(this.#definition(name) ?? externalTask(name, DEFAULT_TASK_QUEUE), body, maxArgsBytes, complete);
    this.#workflows = new Workflows({ submitter: core.submitter, ...workflowParts, prepare });
    this.#known = known;
    this.#maxArgsBytes = maxArgsBytes;
    this.#release = release;
  }

  /** @internal Use `createClient`. */
  static async create<App = unknown>(options: ClientOptions<App> = {}): Promise<Client<App>> {
    const env = options.env ?? process.env;
    // Options override the environment, and go through the same validation (ConfigError names the option's variable).
    const config = loadCommonConfig({
      ...env,
      ...(options.amqpUrl !== undefined ? { AMQP_URL: options.amqpUrl } : {}),
      ...(options.databaseUrl !== undefined ? { DATABASE_URL: options.databaseUrl } : {}),
      ...(options.databaseSchema !== undefined ? { DATABASE_SCHEMA: options.databaseSchema } : {}),
    });
    const logger = options.logger ?? createLogger({ service: 'celerity-client', level: env.LOG_LEVEL ? config.logLevel : ('warn' satisfies LogLevel) });
    const definitions = options.tasks === undefined ? [] : collectTasks(options.tasks, 'createClient({ tasks })');
    const catalogue = new Catalogue(definitions);
    const pool = createPool({ url: config.databaseUrl, schema: config.databaseSchema, logger, applicationName: 'celerity-client', max: 4 });
    let broker: Broker | undefined;
    try {
      broker = await connectBroker(config, logger, 'celerity-client');
      const revoker = await Revoker.create(broker, pool, logger, 'client');
      const core = await ClientCore.create({
        broker,
        revoker,
        pool,
        logger,
        catalogue,
        ...(config.queueTypes ? { queueTypes: config.queueTypes } : {}),
        headerFormat: config.messageHeaders,
        ...(options.maxArgsBytes !== undefined ? { maxArgsBytes: options.maxArgsBytes } : {}),
        ...(options.ledgerMaxBytes !== undefined ? { ledgerMaxBytes: options.ledgerMaxBytes } : {}),
      });
      const connected = broker;
      const schedules = new ScheduleAdmin(pool, catalogue, appSchedules(options.tasks, definitions));
      return new Client<App>(core, revoker, definitions.length > 0, options.maxArgsBytes, async () => {
        await revoker.close();
        await connected.close();
        await pool.end();
      }, schedules, { store: new WorkflowStore(pool), logger });
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
   * a handle on it: `submit(task, input, options?)` for a one-object task (its input goes as
   * kwargs), `submit(task, args?, kwargs?, options?)` for a positional one. A task definition
   * types what follows it and the handle's result; so does a name, on a client typed by its app
   * (`createClient({ tasks: app })`, `createClient<typeof app>()`), where an unknown name is a
   * compile error. On an untyped client a name takes `(input, options?)` or `(args, kwargs,
   * options?)`, told apart by the second argument (an object or an array).
   * Rejects with a CelerityError: INVALID_ARGUMENTS / INVALID_OPTIONS before publishing,
   * UNKNOWN_TASK for a name this client does not know (when it was given tasks),
   * BROKER_UNAVAILABLE / QUEUE_UNAVAILABLE / QUEUE_FULL when nothing was promised.
   */
  submit<const T extends AnyTask | TaskNameOf<App>>(task: T, ...call: SubmitCall<App, T>): Promise<TaskHandle<SubmitResult<App, T>>> {
    // Not an overload with an untyped implementation: the compiler would add "the call would have
    // succeeded against this implementation" to every error a caller sees.
    return this.#submit(task, call) as Promise<TaskHandle<SubmitResult<App, T>>>;
  }

  async #submit(task: Task | string, call: readonly unknown[]): Promise<TaskHandle<unknown>> {
    this.#assertOpen();
    const { submission, idempotencyKey } = this.#prepareCall(task, call);
    stamp(submission.id, 'submit');
    const answer = await this.#core.submit(submission, { wantReply: true, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) });
    return this.#handle(answer.id, answer.published, answer.deduplicated);
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
        const call = item.input !== undefined ? [item.input, item.options] : [item.args, item.kwargs, item.options];
        const prepared = this.#prepareCall(item.task, call);
        if (prepared.idempotencyKey !== undefined) throw new CelerityError('INVALID_OPTIONS', 'idempotencyKey is an option of submit(), not of submitMany() items');
        assertNoDedupe(prepared.submission, 'submitMany() items');
        return prepared.submission;
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

  /**
   * Starts a workflow (`chain`, `group`, `chord` from canvas.ts): every step is validated, then
   * the workflow is recorded and its first tasks published; resolves once the broker confirmed
   * them. Rejects as `submit` does, naming the failing step (`chain[1]: ...`).
   */
  async workflow<R>(workflow: Workflow<R>): Promise<WorkflowHandle<R>> {
    this.#assertOpen();
    return new WorkflowHandle<R>(await this.#workflows.start(workflow), this.#workflows);
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

  #prepareCall(task: Task | string, call: readonly unknown[]): { submission: Submission; idempotencyKey?: string } {
    const known = this.#definition(task);
    const name = known?.name ?? (task as string);
    const { args, kwargs, options } = callParts(known, name, call);
    const { idempotencyKey, ...submitOptions } = options;
    if (idempotencyKey !== undefined && !isValidIdempotencyKey(idempotencyKey)) {
      throw new CelerityError('INVALID_IDEMPOTENCY_KEY', 'idempotencyKey must be 1 to 255 printable ASCII characters');
    }
    // Sent as-is, like Celery's send_task: whatever consumes the queue implements it (perhaps a
    // Python worker, whose result only a reply carries, so the submitter always asks for one).
    const definition = known ?? externalTask(name, submitOptions.queue ?? DEFAULT_TASK_QUEUE);
    const submission = prepareSubmission(definition, { args, kwargs, options: submitOptions }, this.#maxArgsBytes);
    return { submission, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) };
  }

  /** The definition of `task`, or undefined for a name sent as-is (a client given no tasks). */
  #definition(task: Task | string): TaskDefinition | undefined {
    if (isTask(task)) return task;
    if (typeof task !== 'string') throw new CelerityError('INVALID_REQUEST', 'submit() takes a task defined with defineTask, or a task name');
    const known = this.#core.catalogue.get(task);
    if (known) return known;
    if (this.#known) throw new CelerityError('UNKNOWN_TASK', `Unknown task "${task}": this client was given tasks, and this is not one of them`);
    const name: string = task; // isValidTaskName narrows task itself to never when it fails
    if (!isValidTaskName(name)) throw new CelerityError('INVALID_REQUEST', `Invalid task name "${task}": ${TASK_NAME_RULE}`);
    return undefined;
  }

  #handle<R>(id: string, submittedHere: boolean, deduplicated = false): TaskHandle<R> {
    return new TaskHandle<R>(id, this.#core, { submittedHere, isClosed: () => this.#closing !== undefined, revoker: this.#revoker, deduplicated });
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
export function createClient<App = unknown>(options: ClientOptions<App> = {}): Promise<Client<App>> {
  return Client.create<App>(options);
}
