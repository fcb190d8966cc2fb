/**
 * Runs one delivered task message to its end: decode, look up, validate, run (in-process or
 * in the thread pool), record the outcome in the store, reply on `reply_to`. The caller
 * acknowledges the message only after `run()` resolves: late acknowledgement, so a worker
 * that dies mid-task leaves the message to be redelivered, never lost.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  CelerityError,
  DELAY_EXCHANGE,
  DELAY_HEADER,
  MAX_RETRIES_HEADER,
  MessageFormatError,
  OWNER_HEADER,
  REPUBLISHED_HEADER,
  checkArguments,
  coerceError,
  deadLetterOptions,
  deadLetterQueueName,
  decodeTaskMessage,
  findUnstorable,
  unstorableTextReason,
  truncateText,
  delayLevelFor,
  delayQueueName,
  encodeResultBody,
  formatIssues,
  isExpired,
  isFinalState,
  isPermanentError,
  isRetryable,
  parseEta,
  publishProperties,
  republishHeaders,
  retryDelayMs,
  retryPolicyOf,
  queueWaitSeconds,
  type Broker,
  type Catalogue,
  type DeadReason,
  type DeliveredProperties,
  type Logger,
  type Publisher,
  type TaskMessage,
  type TaskOutcome,
  type TaskQueues,
  type TaskRecord,
  type TaskStore,
  type TaskWrite,
} from '../../shared/src/index.js';
import type { WorkerMetrics, Outcome } from './metrics.js';
import type { TaskHooks, TaskInfo } from './task-hooks.js';
import { UNSERIALISABLE_RESULT } from './cpu-job.js';
import type { ThreadPool } from './thread-pool.js';

export interface Delivery {
  queue: string;
  content: Buffer;
  properties: DeliveredProperties;
  redelivered: boolean;
}

/** What to tell the broker once the task is done with. */
export type Disposition = 'ack';

/** Sends a reply to `reply_to`; returns when it is handed to the channel. */
export type ReplySender = (replyTo: string, correlationId: string, body: Buffer) => void;

export interface TaskRunnerDeps {
  /** The tasks this worker runs: `run` in-process, or by name in the thread pool when `cpu`. */
  catalogue: Catalogue;
  /** `file:` URL of the app module, which pool threads import to find CPU tasks. */
  appUrl?: string;
  store: TaskStore;
  pool: ThreadPool;
  metrics: WorkerMetrics;
  logger: Logger;
  /** This worker's name, recorded with each task (`celerity@host:pid`). */
  workerName?: string;
  /** Stops retrying a failed result write (the worker is being forced down). */
  stopping: AbortSignal;
  /** Broker connection and confirmed publishing, for retries, delays and dead letters. */
  broker: Broker;
  publisher: Publisher;
  /** Dead-letter queues (`<queue>.dead`) and delay queues declared so far. */
  deadLetterQueues: TaskQueues;
  delayQueues: TaskQueues;
  /** Hard time limit for tasks that set none, in seconds. */
  timeLimitS: number;
  /** Starts without finishing after which a message is dead-lettered. */
  deliveryLimit: number;
  /** Told when a task is received, started and finished (worker events). */
  hooks?: TaskHooks;
  /** Largest result stored and replied, as JSON bytes; bigger fails the task. @default no limit */
  maxResultBytes?: number;
  /** How long a result write is retried while the database is away, in ms. @default 120000 */
  recordRetryMs?: number;
  /**
   * Lease a running task holds on its STARTED row, in ms, renewed every third of it: a
   * redelivered copy that finds it live is deferred, not run; after a worker dies its tasks
   * run again once their leases lapse (at most this much later). @default 6000
   */
  leaseMs?: number;
}

/** Error types a task can fail with before it runs; stable, Python-style names. */
const UNKNOWN_TASK = 'UnknownTaskError';
const INVALID_ARGUMENTS = 'InvalidArgumentsError';
const MALFORMED_MESSAGE = 'MalformedMessageError';
/** A result JSON can carry but PostgreSQL's jsonb cannot (U+0000, a lone surrogate, too deep). */
const UNSTORABLE_RESULT = 'UnstorableResultError';
const DELIVERY_LIMIT = 'DeliveryLimitExceeded';
/** Celery's names for the hard and the soft time limit. */
const TIME_LIMIT = 'TimeLimitExceeded';
const SOFT_TIME_LIMIT = 'SoftTimeLimitExceeded';

/** Failures a task did not cause itself and that no retry would fix. */
const NEVER_RETRIED: ReadonlySet<string> = new Set([TIME_LIMIT, SOFT_TIME_LIMIT, UNSERIALISABLE_RESULT]);
const RESULT_TOO_LARGE = 'ResultTooLargeError';
/** The store refused a task's outcome for good (see #recordRefused). */
const RESULT_NOT_STORED = 'ResultNotStoredError';
/** How long a result write is retried while the database is away, in ms. */
const DEFAULT_RECORD_RETRY_MS = 120_000;

function isDatabaseUnavailable(err: unknown): boolean {
  return err instanceof CelerityError && err.code === 'DATABASE_UNAVAILABLE';
}

/**
 * The task was stopped by the worker (shutdown), not failed by its own doing: nothing is
 * recorded, and the message goes back to the queue for another worker.
 */
export class TaskInterruptedError extends Error {
  override readonly name = 'TaskInterruptedError';
  readonly code = 'TASK_INTERRUPTED';
}

export function defaultWorkerName(): string {
  return `celerity@${hostname()}:${process.pid}`;
}

/** @see TaskRunnerDeps.leaseMs */
const DEFAULT_LEASE_MS = 6_000;

export class TaskRunner {
  readonly #deps: TaskRunnerDeps;
  readonly #worker: string;
  /** Ids of the tasks this process is running now; their leases are renewed together. */
  readonly #running = new Set<string>();
  #renewal: NodeJS.Timeout | undefined;

  constructor(deps: TaskRunnerDeps) {
    this.#deps = deps;
    this.#worker = deps.workerName ?? defaultWorkerName();
  }

  get workerName(): string {
    return this.#worker;
  }

  async run(delivery: Delivery, reply: ReplySender, signal: AbortSignal): Promise<Disposition> {
    const { logger, metrics, catalogue } = this.#deps;
    let message: TaskMessage;
    try {
      message = decodeTaskMessage(delivery.content, delivery.properties);
    } catch (err) {
      if (!(err instanceof MessageFormatError)) throw err;
      return this.#rejectMalformed(delivery, err);
    }
    const log = logger.child({ taskId: message.id, task: message.name, queue: delivery.queue, attempt: message.retries + 1 });
    const known = catalogue.get(message.name) !== undefined;
    const metricTask = known ? message.name : '(unknown)';
    this.#deps.hooks?.received(taskInfo(message, delivery.queue));

    // Arguments the store cannot hold (a foreign client sent U+0000 or a lone surrogate; the
    // gateway refuses them with a 400): fail the task without them, ack, move on.
    const unstorable = findUnstorable(message.args, 'args') ?? findUnstorable(message.kwargs, 'kwargs');
    if (unstorable) {
      log.warn('arguments the store cannot hold: recorded as FAILURE and dead-lettered', { path: unstorable.path, reason: unstorable.reason });
      const { args: _args, kwargs: _kwargs, ...withoutArguments } = this.#base(delivery, message, message.retries + 1, 1);
      return this.#finish(delivery, message, withoutArguments, reply, {
        outcome: 'rejected',
        metricTask,
        deadReason: 'invalid-arguments',
        error: { type: INVALID_ARGUMENTS, message: `Arguments the result store cannot hold: ${unstorable.path} ${unstorable.reason}` },
      });
    }

    // Celery's worker does the same with a task past its `expires` (even one not due yet):
    // REVOKED, not run, acked.
    if (isExpired(message)) {
      log.info('task expired before it could run: recorded as REVOKED', { expires: message.expires });
      return this.#finish(delivery, message, this.#base(delivery, message, message.retries + 1, 1), reply, {
        outcome: 'rejected',
        metricTask,
        state: 'REVOKED',
        error: { type: 'TaskRevokedError', message: 'expired' },
      });
    }

    // Not due yet (countdown/eta, or a retry that came round early): back into the delay
    // queues rather than held unacked here, where consumer_timeout would cancel it.
    const eta = parseEta(message.eta);
    if (eta !== undefined && eta > Date.now()) {
      await this.#publishDelayed(delivery, message, {}, eta - Date.now());
      log.debug('task not due yet; delayed again', { eta: message.eta });
      return 'ack';
    }

    let attempts = message.retries + 1;
    let deliveries = 1;
    // A redelivered message may belong to a task that finished before its ack was lost
    // (worker killed between recording and acking): answer from the store, do not run twice.
    // The same goes for a message the gateway published again (REPUBLISHED_HEADER).
    const seenBefore = delivery.redelivered || delivery.properties.headers?.[REPUBLISHED_HEADER] === true;
    if (seenBefore) {
      const stored = await this.#deps.store.get(message.id).catch((err: unknown) => {
        log.warn('could not read the task of a redelivered message; running it', { err });
        return undefined;
      });
      if (stored && isFinalState(stored.state)) return this.#answerFinished(delivery, message, stored, reply, log);
      // Still running, here or in another worker (its connection dropped, so the broker sent
      // the message again): running it now would run it twice at once. Wait for the lease.
      const leaseMs = Math.max(0, (stored?.leaseExpiresAt?.getTime() ?? 0) - Date.now());
      const held = stored?.state === 'STARTED' && stored.retries === message.retries && leaseMs > 0;
      if (this.#running.has(message.id) || held) return this.#deferRunning(delivery, message, leaseMs, stored?.worker ?? null, log);
      if (stored && stored.retries > message.retries) {
        // Its retry was already scheduled (the worker died before acking this copy).
        log.info('redelivered message superseded by its retry; dropping it', { retries: stored.retries });
        return 'ack';
      }
      deliveries = (stored && stored.retries === message.retries ? (stored.deliveries ?? 0) : 0) + 1;
      attempts = Math.max(stored?.attempts ?? 0, message.retries) + 1;
      if (deliveries > this.#deps.deliveryLimit) {
        log.error('message keeps getting redelivered without finishing; dead-lettering it', {
          deliveries: deliveries - 1,
          limit: this.#deps.deliveryLimit,
        });
        return this.#finish(delivery, message, this.#base(delivery, message, attempts - 1, deliveries - 1), reply, {
          outcome: 'rejected',
          metricTask,
          deadReason: 'delivery-limit',
          error: {
            type: DELIVERY_LIMIT,
            message: `Started ${deliveries - 1} times without finishing (limit ${this.#deps.deliveryLimit}): it may crash its worker`,
          },
        });
      }
    }
    const base = this.#base(delivery, message, attempts, deliveries);

    if (message.workflow) log.warn('callbacks, errbacks, chains and chords are not supported: ignored', { workflow: message.workflow });

    const definition = catalogue.get(message.name);
    const run = definition?.run;
    const cpuAppUrl = definition?.cpu ? this.#deps.appUrl : undefined;
    if (!definition || !run || (definition.cpu && !cpuAppUrl)) {
      log.error('unknown task: recorded as FAILURE and dead-lettered', { known, outcome: 'rejected' });
      return this.#finish(delivery, message, base, reply, {
        outcome: 'rejected',
        metricTask,
        deadReason: 'unknown-task',
        error: { type: UNKNOWN_TASK, message: `This worker has no task named "${message.name}"` },
      });
    }
    const check = checkArguments(definition, message.args, message.kwargs);
    if (!check.ok) {
      log.warn('invalid arguments: recorded as FAILURE and dead-lettered', { issues: check.issues, outcome: 'rejected' });
      return this.#finish(delivery, message, base, reply, {
        outcome: 'rejected',
        metricTask,
        deadReason: 'invalid-arguments',
        error: { type: INVALID_ARGUMENTS, message: `Invalid arguments for ${message.name}: ${formatIssues(check.issues)}` },
      });
    }

    const startedAt = new Date();
    this.#observeStart(message, delivery, metricTask, startedAt.getTime());
    const leaseMs = this.#deps.leaseMs ?? DEFAULT_LEASE_MS;
    const started = this.#deps.store.record({ ...base, startedAt, leaseExpiresAt: new Date(startedAt.getTime() + leaseMs) });
    this.#startRunning(message.id);
    if (seenBefore) {
      // Counted before running: a task that crashes its worker must see its count grow.
      await started.catch((err: unknown) => log.warn('could not record STARTED', { err }));
    } else {
      // STARTED is advisory: not awaited, and merged away if the task finishes before it is flushed.
      started.catch((err: unknown) => log.warn('could not record STARTED', { err }));
    }
    const hardLimitS = message.timelimit[0] ?? definition.timeLimitS ?? this.#deps.timeLimitS;
    const softLimitS = message.timelimit[1] ?? definition.softTimeLimitS;
    const limits = new TimeLimits(signal, hardLimitS, softLimitS);
    metrics.inFlight.inc({ queue: delivery.queue });
    const timer = metrics.duration.startTimer({ task: metricTask, queue: delivery.queue });
    try {
      let result: unknown;
      try {
        const ctx = { id: message.id, name: message.name, queue: delivery.queue, retries: message.retries };
        const running = cpuAppUrl
          ? // The pool terminates the thread when the hard signal fires; the task signal reaches ctx.signal.
            this.#deps.pool.run(
              { appUrl: cpuAppUrl, name: message.name, args: check.args, kwargs: check.kwargs, ctx },
              { hard: limits.hardSignal, task: limits.taskSignal, logger: log },
            )
          : Promise.resolve(run(check.args, check.kwargs, { ...ctx, signal: limits.taskSignal, logger: log }));
        result = await limits.race(running);
      } catch (thrown) {
        if (signal.aborted) {
          log.warn('task interrupted by the worker stopping; it goes back to the queue', { outcome: 'interrupted' });
          throw new TaskInterruptedError(`Task ${message.id} was interrupted`, { cause: thrown });
        }
        const err = limits.explain(thrown);
        // Bounded before it is logged, stored, replied or dead-lettered (errors.ts).
        const errorMessage = truncateText(err.message);
        const policy = retryPolicyOf(definition);
        const maxRetries = maxRetriesOf(delivery, policy.maxRetries);
        const retry = !NEVER_RETRIED.has(err.name) && isRetryable(err, policy) && message.retries < maxRetries;
        const durationMs = Date.now() - startedAt.getTime();
        if (retry) {
          const delayMs = retryDelayMs(policy, message.retries);
          log.info('task failed; retrying', { outcome: 'retry', durationMs, error: errorMessage, retryInMs: delayMs, maxRetries });
          return await this.#retry(delivery, message, { ...base, startedAt }, err, delayMs, metricTask);
        }
        log.info('task failed', { outcome: 'failure', durationMs, error: errorMessage, permanent: isPermanentError(err), retries: message.retries });
        return await this.#finish(delivery, message, { ...base, startedAt }, reply, {
          outcome: 'failure',
          metricTask,
          deadReason: 'failed',
          error: { type: err.name || 'Error', message: errorMessage },
        });
      } finally {
        limits.clear();
      }
      const json = toJsonValue(result, this.#deps.maxResultBytes);
      if (!json.ok && json.tooLarge) {
        log.warn('task result over the size limit: recorded as FAILURE', { error: json.error });
        return await this.#finish(delivery, message, { ...base, startedAt }, reply, {
          deadReason: 'failed',
          outcome: 'failure',
          metricTask,
          error: { type: RESULT_TOO_LARGE, message: json.error },
        });
      }
      if (!json.ok) {
        log.warn('task returned a value that cannot be stored', { error: json.error });
        return await this.#finish(delivery, message, { ...base, startedAt }, reply, {
          outcome: 'failure',
          metricTask,
          deadReason: 'failed',
          error: { type: json.unstorable ? UNSTORABLE_RESULT : UNSERIALISABLE_RESULT, message: json.error },
        });
      }
      const disposition = await this.#finish(delivery, message, { ...base, startedAt }, reply, { outcome: 'success', metricTask, result: json.value });
      log.info('task succeeded', { outcome: 'success', durationMs: Date.now() - startedAt.getTime() });
      return disposition;
    } finally {
      this.#stopRunning(message.id);
      timer();
      metrics.inFlight.dec({ queue: delivery.queue });
    }
  }

  /** One statement every third of the lease renews the leases of every task running here. */
  #startRunning(id: string): void {
    this.#running.add(id);
    if (this.#renewal) return;
    const leaseMs = this.#deps.leaseMs ?? DEFAULT_LEASE_MS;
    this.#renewal = setInterval(() => {
      this.#deps.store.renewLeases([...this.#running], new Date(Date.now() + leaseMs)).catch((err: unknown) => {
        this.#deps.logger.warn('could not renew task leases', { tasks: this.#running.size, err });
      });
    }, leaseMs / 3);
    this.#renewal.unref();
  }

  #stopRunning(id: string): void {
    this.#running.delete(id);
    if (this.#running.size > 0 || !this.#renewal) return;
    clearInterval(this.#renewal);
    this.#renewal = undefined;
  }

  #base(delivery: Delivery, message: TaskMessage, attempts: number, deliveries: number): TaskWrite {
    // The submitting key, when a Celerity gateway sent it: kept once set (the store never replaces an owner).
    const owner = delivery.properties.headers?.[OWNER_HEADER];
    return {
      ...(typeof owner === 'string' && owner !== '' && owner.length <= 200 && !unstorableTextReason(owner) ? { owner } : {}),
      id: message.id,
      name: message.name,
      queue: delivery.queue,
      state: 'STARTED',
      args: message.args,
      kwargs: message.kwargs,
      retries: message.retries,
      worker: this.#worker,
      attempts,
      deliveries,
    };
  }

  /**
   * A copy of a task that is still running: sent round the delay queues (marked as seen
   * before, so it checks the store again when it comes back) and acked. When it returns the
   * task has finished (it is answered from the store) or its lease has lapsed (it runs).
   */
  async #deferRunning(delivery: Delivery, message: TaskMessage, leaseMs: number, holder: string | null, log: Logger): Promise<Disposition> {
    const delayMs = Math.min(Math.max(leaseMs, 1_000), this.#deps.leaseMs ?? DEFAULT_LEASE_MS);
    log.info('task still running elsewhere; this copy is deferred, not run', { holder: holder ?? 'this worker', retryInMs: delayMs });
    await this.#publishDelayed(delivery, message, { [REPUBLISHED_HEADER]: true }, delayMs);
    return 'ack';
  }

  /** A redelivered message of a finished task: reply from the store, never run it again. */
  async #answerFinished(delivery: Delivery, message: TaskMessage, stored: TaskRecord, reply: ReplySender, log: Logger): Promise<Disposition> {
    log.info('redelivered task already finished; not running it again', { state: stored.state });
    if (stored.state === 'FAILURE') {
      // Its dead letter may not have reached the broker before the ack was lost: publish it
      // (again). A duplicate dead letter is re-driven once (redrive skips repeated ids).
      await this.#deadLetter(delivery, 'failed', stored.error ?? null, message.id);
    }
    this.#reply(message, reply, {
      id: stored.id,
      state: stored.state,
      result: stored.result,
      error: stored.error ?? null,
      finishedAt: stored.finishedAt ?? new Date(),
      worker: stored.worker ?? null,
      retries: stored.retries,
      ...(stored.attempts !== undefined ? { attempts: stored.attempts } : {}),
      startedAt: stored.startedAt ?? null,
    });
    return 'ack';
  }

  /**
   * Records the final state (retrying until the store takes it), dead-letters a failure,
   * then replies. Order: the store first (so whoever polls sees the outcome), the dead
   * letter next (confirmed), the ack last — a crash in between repeats a step, never skips one.
   */
  async #finish(
    delivery: Delivery,
    message: TaskMessage,
    base: TaskWrite,
    reply: ReplySender,
    end: { outcome: Outcome; metricTask: string; result?: unknown; error?: { type: string; message: string }; deadReason?: DeadReason; state?: 'REVOKED' },
  ): Promise<Disposition> {
    const finishedAt = new Date();
    const state = end.state ?? (end.outcome === 'success' ? 'SUCCESS' : 'FAILURE');
    await this.#recordFinal({ ...base, state, result: end.result ?? null, error: end.error ?? null, finishedAt });
    if (state === 'FAILURE' && end.deadReason) await this.#deadLetter(delivery, end.deadReason, end.error ?? null, message.id);
    this.#deps.metrics.tasks.inc({ task: end.metricTask, queue: base.queue, outcome: end.outcome });
    this.#announceFinish(message, base, end, finishedAt);
    this.#reply(message, reply, {
      id: message.id,
      state,
      result: end.result,
      error: end.error ?? null,
      finishedAt,
      worker: this.#worker,
      retries: message.retries,
      ...(base.attempts !== undefined ? { attempts: base.attempts } : {}),
      startedAt: base.startedAt ?? null,
    });
    return 'ack';
  }

  /**
   * Schedules the next attempt: a copy of the message with `retries` + 1 and its `eta`,
   * through the broker's delay queues (confirmed), then RETRY in the store, then the ack of
   * this copy. A crash before the ack runs this attempt again: at-least-once.
   */
  async #retry(delivery: Delivery, message: TaskMessage, base: TaskWrite, err: Error, delayMs: number, metricTask: string): Promise<Disposition> {
    const eta = new Date(Date.now() + delayMs);
    await this.#publishDelayed(delivery, message, { retries: message.retries + 1, eta: eta.toISOString() }, delayMs);
    const error = { type: err.name || 'Error', message: truncateText(err.message) };
    await this.#recordFinal({ ...base, state: 'RETRY', error, finishedAt: null });
    this.#deps.metrics.tasks.inc({ task: metricTask, queue: base.queue, outcome: 'retry' });
    this.#deps.hooks?.retried(taskInfo(message, base.queue), error);
    return 'ack';
  }

  /** Publishes this message (headers patched) to wait `delayMs` in the broker, then return to its queue. */
  async #publishDelayed(delivery: Delivery, message: TaskMessage, patch: Record<string, unknown>, delayMs: number): Promise<void> {
    const level = delayLevelFor(delayMs);
    const headers = { ...republishHeaders(delivery.properties.headers), ...patch, [DELAY_HEADER]: String(level) };
    const options = { ...publishProperties(delivery.properties), headers, deliveryMode: 2, correlationId: message.id };
    await this.#publishTo(this.#deps.delayQueues, delayQueueName(level), DELAY_EXCHANGE, delivery.queue, delivery.content, options);
  }

  /** Publishes the dead letter of this delivery to `<queue>.dead` and waits for the confirm. */
  async #deadLetter(delivery: Delivery, reason: DeadReason, error: { type: string; message: string } | null, id: string | undefined): Promise<void> {
    const deadQueue = deadLetterQueueName(delivery.queue);
    const options = { ...deadLetterOptions(delivery.properties, delivery.queue, reason, error), correlationId: id ?? randomUUID() };
    await this.#publishTo(this.#deps.deadLetterQueues, deadQueue, '', deadQueue, delivery.content, options);
    this.#deps.logger.warn('message dead-lettered', { taskId: id, queue: delivery.queue, deadLetterQueue: deadQueue, reason, error: error?.message });
  }

  /**
   * Declares `declare` (once per connection) and publishes with a confirm. A queue deleted
   * behind our back comes back as a returned message: declare it again and publish once more.
   */
  async #publishTo(
    queues: TaskQueues,
    declare: string,
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Parameters<Publisher['publish']>[3],
  ): Promise<void> {
    for (let round = 1; ; round++) {
      const connection = this.#deps.broker.connection;
      if (!connection) throw new CelerityError('BROKER_UNAVAILABLE', 'Not connected to the broker');
      await queues.ensure(connection, declare);
      try {
        await this.#deps.publisher.publish(exchange, routingKey, content, options);
        return;
      } catch (err) {
        if (round >= 2 || !(err instanceof CelerityError) || err.code !== 'QUEUE_UNAVAILABLE') throw err;
        queues.forget(declare);
      }
    }
  }

  /**
   * The ack waits for this; it never holds the slot for ever:
   * - the database is away (DATABASE_UNAVAILABLE): retried with backoff (100 ms doubling to
   *   5 s) for up to `recordRetryMs`; then it throws, the consumer requeues the message and
   *   the task runs again later (at-least-once), or at once when the worker is forced down;
   * - the store refused the write for good (UNSTORABLE_VALUE, STORE_WRITE_REFUSED): not
   *   retried; a final state is recorded once more as a FAILURE without the refused values
   *   (`ResultNotStoredError`, the reason in its message); if that is refused too, or the write
   *   was a RETRY, it is logged and the message acked (a failure's dead letter keeps it).
   */
  async #recordFinal(write: TaskWrite): Promise<void> {
    const deadline = Date.now() + (this.#deps.recordRetryMs ?? DEFAULT_RECORD_RETRY_MS);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#deps.store.record(write);
        return;
      } catch (err) {
        if (this.#deps.stopping.aborted) throw err;
        if (!isDatabaseUnavailable(err)) return this.#recordRefused(write, err);
        const delayMs = Math.min(5_000, 100 * 2 ** attempt);
        if (Date.now() + delayMs > deadline) {
          this.#deps.logger.error('could not record the task result in time; the message goes back to the queue', {
            taskId: write.id,
            task: write.name,
            queue: write.queue,
            attempts: attempt,
            err,
          });
          throw err;
        }
        this.#deps.logger.error('could not record the task result; retrying', {
          taskId: write.id,
          task: write.name,
          queue: write.queue,
          attempt,
          retryInMs: delayMs,
          err,
        });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  /** The store refused `write` for a reason no retry fixes: record what can be recorded. */
  async #recordRefused(write: TaskWrite, err: unknown): Promise<void> {
    const log = this.#deps.logger.child({ taskId: write.id, task: write.name, queue: write.queue });
    log.error('the store refused the task state; not retrying it', { state: write.state, err });
    if (!isFinalState(write.state)) return;
    const reason = err instanceof Error ? err.message : String(err);
    const fallback: TaskWrite = {
      id: write.id,
      name: write.name,
      queue: write.queue,
      state: 'FAILURE',
      error: { type: RESULT_NOT_STORED, message: `The store refused the outcome (${write.state}): ${reason}` },
      finishedAt: write.finishedAt ?? new Date(),
      ...(write.retries !== undefined ? { retries: write.retries } : {}),
      ...(write.worker !== undefined ? { worker: write.worker } : {}),
      ...(write.startedAt !== undefined ? { startedAt: write.startedAt } : {}),
      ...(write.attempts !== undefined ? { attempts: write.attempts } : {}),
      ...(write.deliveries !== undefined ? { deliveries: write.deliveries } : {}),
    };
    await this.#deps.store.record(fallback).catch((fallbackErr: unknown) => {
      log.error('the store refused the FAILURE that replaces the refused outcome too; acking anyway', { err: fallbackErr });
    });
  }

  #reply(message: TaskMessage, reply: ReplySender, outcome: TaskOutcome): void {
    if (!message.replyTo || message.ignoreResult) return;
    try {
      reply(message.replyTo, message.id, encodeResultBody(outcome));
    } catch (err) {
      // Replies are advisory: the waiter falls back to the store.
      this.#deps.logger.warn('could not send the reply', { taskId: message.id, task: message.name, err });
    }
  }

  /** Queue wait (publish → start) and the `task-started` event. */
  #observeStart(message: TaskMessage, delivery: Delivery, metricTask: string, startedAtMs: number): void {
    const wait = queueWaitSeconds(delivery.properties.headers, message.eta, startedAtMs);
    if (wait.seconds !== undefined) this.#deps.metrics.queueWait.observe({ task: metricTask, queue: delivery.queue }, wait.seconds);
    this.#deps.hooks?.started(taskInfo(message, delivery.queue));
  }

  #announceFinish(
    message: TaskMessage,
    base: TaskWrite,
    end: { outcome: Outcome; result?: unknown; error?: { type: string; message: string } },
    finishedAt: Date,
  ): void {
    const hooks = this.#deps.hooks;
    if (!hooks) return;
    const info = taskInfo(message, base.queue);
    const runtimeS = base.startedAt ? (finishedAt.getTime() - base.startedAt.getTime()) / 1000 : undefined;
    if (end.outcome === 'success') hooks.succeeded(info, end.result ?? null, runtimeS ?? 0);
    else hooks.failed(info, end.error ?? { type: 'Error', message: 'failed' }, runtimeS);
  }

  /** A message that is not a task message: record what can be recorded, dead-letter it. */
  async #rejectMalformed(delivery: Delivery, err: MessageFormatError): Promise<Disposition> {
    const { logger, metrics } = this.#deps;
    logger.error('malformed message on the queue', {
      queue: delivery.queue,
      code: err.code,
      error: err.message,
      taskId: err.partial.id,
      task: err.partial.name,
      bytes: delivery.content.length,
    });
    metrics.tasks.inc({ task: '(unknown)', queue: delivery.queue, outcome: 'rejected' });
    const error = { type: MALFORMED_MESSAGE, message: err.message };
    if (err.partial.id && err.partial.name) {
      await this.#recordFinal({
        id: err.partial.id,
        name: err.partial.name,
        queue: delivery.queue,
        state: 'FAILURE',
        error,
        worker: this.#worker,
        finishedAt: new Date(),
      });
    }
    await this.#deadLetter(delivery, 'malformed', error, err.partial.id);
    return 'ack';
  }
}

/** The per-call override of the retry count, when the message carries one. */
function maxRetriesOf(delivery: Delivery, fallback: number): number {
  const value = delivery.properties.headers?.[MAX_RETRIES_HEADER];
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : fallback;
}

/**
 * A task's time limits (Celery's semantics). Soft: the task's AbortSignal fires with a
 * SoftTimeLimitExceeded reason, so a cooperative task can clean up and stop. Hard: the
 * worker stops waiting — a thread-pool task's thread is terminated; an in-process task
 * cannot be killed, so it is failed and its slot given back while it winds down unobserved.
 */
/**
 * Longest delay setTimeout takes (2^31 - 1 ms, about 24.8 days); Node fires a longer one after
 * 1 ms instead. A time limit longer than this (Celery's `timelimit` header from a foreign
 * client; the gateway caps it at 7 days) is treated as no limit.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

class TimeLimits {
  readonly #task = new AbortController();
  readonly #hard = new AbortController();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #shutdown: AbortSignal;
  readonly #onShutdown: () => void;
  #hardExpired = false;
  #softExpired = false;
  #rejectHard: ((err: Error) => void) | undefined;

  constructor(shutdown: AbortSignal, hardS: number | null, softS: number | null | undefined) {
    this.#shutdown = shutdown;
    this.#onShutdown = () => {
      this.#task.abort(shutdown.reason);
      this.#hard.abort(shutdown.reason);
    };
    if (shutdown.aborted) this.#onShutdown();
    else shutdown.addEventListener('abort', this.#onShutdown, { once: true });
    if (softS !== null && softS !== undefined && softS > 0 && softS * 1000 <= MAX_TIMER_MS) {
      this.#timers.push(
        setTimeout(() => {
          this.#softExpired = true;
          this.#task.abort(limitError(SOFT_TIME_LIMIT, `Soft time limit (${softS} s) exceeded`));
        }, softS * 1000),
      );
    }
    if (hardS !== null && hardS > 0 && hardS * 1000 <= MAX_TIMER_MS) {
      this.#timers.push(
        setTimeout(() => {
          this.#hardExpired = true;
          const err = limitError(TIME_LIMIT, `Time limit (${hardS} s) exceeded`);
          this.#task.abort(err);
          this.#hard.abort(err);
          this.#rejectHard?.(err);
        }, hardS * 1000),
      );
    }
  }

  /** For in-process tasks: fires on shutdown and on either limit. */
  get taskSignal(): AbortSignal {
    return this.#task.signal;
  }

  /** For thread-pool tasks: fires on shutdown and on the hard limit. */
  get hardSignal(): AbortSignal {
    return this.#hard.signal;
  }

  /** Settles with the task, or rejects at the hard limit even if the task never settles. */
  race<T>(running: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#rejectHard = reject;
      running.then(resolve, reject);
    });
  }

  /** The error to record for what the task threw: a limit, when one caused it. */
  explain(thrown: unknown): Error {
    if (this.#hardExpired) return limitError(TIME_LIMIT, (this.#hard.signal.reason as Error).message);
    if (this.#softExpired && !this.#shutdown.aborted) {
      const err = coerceError(thrown);
      return err.name === SOFT_TIME_LIMIT ? err : limitError(SOFT_TIME_LIMIT, `Soft time limit exceeded (${err.message})`);
    }
    return coerceError(thrown);
  }

  clear(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#shutdown.removeEventListener('abort', this.#onShutdown);
    this.#rejectHard = undefined;
  }
}

function limitError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

function taskInfo(message: TaskMessage, queue: string): TaskInfo {
  return {
    id: message.id,
    name: message.name,
    queue,
    retries: message.retries,
    args: message.args,
    kwargs: message.kwargs,
    rootId: message.rootId,
    parentId: message.parentId,
    eta: message.eta,
    expires: message.expires,
  };
}

function toJsonValue(
  value: unknown,
  maxBytes?: number,
): { ok: true; value: unknown } | { ok: false; error: string; tooLarge?: boolean; unstorable?: boolean } {
  if (value === undefined) return { ok: true, value: null };
  // Walked first: JSON.stringify would silently drop a function member, throw on a BigInt or
  // a cycle, and let U+0000 through to a store that refuses it (shared/src/jsonb.ts).
  const bad = findUnstorable(value, 'result');
  if (bad) {
    const how = bad.kind === 'json' ? 'as JSON' : 'in PostgreSQL';
    return { ok: false, unstorable: bad.kind === 'jsonb', error: `The task's result cannot be stored ${how}: ${bad.path} ${bad.reason}` };
  }
  let text: string | undefined;
  try {
    // Stored and replied as JSON later; checked here so a bad value fails the task cleanly.
    text = JSON.stringify(value);
  } catch (err) {
    return { ok: false, error: `The task's result cannot be stored as JSON: ${(err as Error).message}` };
  }
  // A result over the limit would bloat the store and the reply: fail the task instead.
  const bytes = text === undefined || maxBytes === undefined ? 0 : Buffer.byteLength(text);
  if (maxBytes !== undefined && bytes > maxBytes) {
    return { ok: false, tooLarge: true, error: `The task's result takes ${bytes} bytes as JSON; the limit is ${maxBytes} (WORKER_MAX_RESULT)` };
  }
  return { ok: true, value: text === undefined ? null : value };
}

