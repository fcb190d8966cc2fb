/**
 * Runs one delivered task message to its end: decode, look up, validate, run (in-process or
 * in the thread pool), record the outcome in the store, reply on `reply_to`. The caller
 * acknowledges the message only after `run()` resolves: late acknowledgement, so a worker
 * that dies mid-task leaves the message to be redelivered, never lost.
 */
import { hostname } from 'node:os';
import {
  MessageFormatError,
  checkArguments,
  coerceError,
  decodeTaskMessage,
  encodeResultBody,
  formatIssues,
  isExpired,
  isFinalState,
  isPermanentError,
  type Catalogue,
  type IncomingProperties,
  type Logger,
  type TaskMessage,
  type TaskOutcome,
  type TaskStore,
  type TaskWrite,
} from '../../shared/src/index.js';
import type { WorkerMetrics, Outcome } from './metrics.js';
import type { Implementation } from './tasks/context.js';
import type { ThreadPool } from './thread-pool.js';

export interface Delivery {
  queue: string;
  content: Buffer;
  properties: IncomingProperties;
  redelivered: boolean;
}

/** What to tell the broker once the task is done with. */
export type Disposition = 'ack';

/** Sends a reply to `reply_to`; returns when it is handed to the channel. */
export type ReplySender = (replyTo: string, correlationId: string, body: Buffer) => void;

export interface TaskRunnerDeps {
  catalogue: Catalogue;
  implementations: ReadonlyMap<string, Implementation>;
  store: TaskStore;
  pool: ThreadPool;
  metrics: WorkerMetrics;
  logger: Logger;
  /** This worker's name, recorded with each task (`celerity@host:pid`). */
  workerName?: string;
  /** Stops retrying a failed result write (the worker is being forced down). */
  stopping: AbortSignal;
}

/** Error types a task can fail with before it runs; stable, Python-style names. */
const UNKNOWN_TASK = 'UnknownTaskError';
const INVALID_ARGUMENTS = 'InvalidArgumentsError';
const MALFORMED_MESSAGE = 'MalformedMessageError';
const UNSERIALISABLE_RESULT = 'ResultNotSerializableError';

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

export class TaskRunner {
  readonly #deps: TaskRunnerDeps;
  readonly #worker: string;

  constructor(deps: TaskRunnerDeps) {
    this.#deps = deps;
    this.#worker = deps.workerName ?? defaultWorkerName();
  }

  get workerName(): string {
    return this.#worker;
  }

  async run(delivery: Delivery, reply: ReplySender, signal: AbortSignal): Promise<Disposition> {
    const { logger, metrics, catalogue, implementations } = this.#deps;
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
    const base: TaskWrite = {
      id: message.id,
      name: message.name,
      queue: delivery.queue,
      state: 'STARTED',
      args: message.args,
      kwargs: message.kwargs,
      retries: message.retries,
      worker: this.#worker,
    };

    // A redelivered message may belong to a task that finished before its ack was lost
    // (worker killed between recording and acking): answer from the store, do not run twice.
    if (delivery.redelivered) {
      const stored = await this.#deps.store.get(message.id).catch(() => undefined);
      if (stored && isFinalState(stored.state)) {
        log.info('redelivered task already finished; not running it again', { state: stored.state });
        this.#reply(message, reply, {
          id: stored.id,
          state: stored.state,
          result: stored.result,
          error: stored.error ?? null,
          finishedAt: stored.finishedAt ?? new Date(),
          worker: stored.worker ?? null,
          retries: stored.retries,
          startedAt: stored.startedAt ?? null,
        });
        return 'ack';
      }
    }

    // Celery's worker does the same with a task past its `expires`: REVOKED, not run, acked.
    if (isExpired(message)) {
      log.info('task expired before it could run: recorded as REVOKED', { expires: message.expires });
      return this.#finish(message, base, reply, { outcome: 'rejected', metricTask, state: 'REVOKED', error: { type: 'TaskRevokedError', message: 'expired' } });
    }
    if (message.workflow) log.warn('callbacks, errbacks, chains and chords are not supported: ignored', { workflow: message.workflow });

    const definition = catalogue.get(message.name);
    const implementation = implementations.get(message.name);
    if (!definition || !implementation) {
      log.error('unknown task: recorded as FAILURE', { known });
      return this.#finish(message, base, reply, {
        outcome: 'rejected',
        metricTask,
        error: { type: UNKNOWN_TASK, message: `This worker has no task named "${message.name}"` },
      });
    }
    const check = checkArguments(definition, message.args, message.kwargs);
    if (!check.ok) {
      log.warn('invalid arguments: recorded as FAILURE', { issues: check.issues });
      return this.#finish(message, base, reply, {
        outcome: 'rejected',
        metricTask,
        error: { type: INVALID_ARGUMENTS, message: `Invalid arguments for ${message.name}: ${formatIssues(check.issues)}` },
      });
    }

    const startedAt = new Date();
    // STARTED is advisory: not awaited, and merged away if the task finishes before it is flushed.
    this.#deps.store.record({ ...base, startedAt }).catch((err: unknown) => log.warn('could not record STARTED', { err }));
    metrics.inFlight.inc({ queue: delivery.queue });
    const timer = metrics.duration.startTimer({ task: metricTask, queue: delivery.queue });
    try {
      let result: unknown;
      try {
        result =
          implementation.kind === 'cpu'
            ? await this.#deps.pool.run({ name: message.name, args: check.args, kwargs: check.kwargs }, signal)
            : await implementation.run(check.args, check.kwargs, {
                id: message.id,
                name: message.name,
                queue: delivery.queue,
                retries: message.retries,
                signal,
                logger: log,
              });
      } catch (thrown) {
        if (signal.aborted) {
          log.warn('task interrupted by the worker stopping; it goes back to the queue', { outcome: 'interrupted' });
          throw new TaskInterruptedError(`Task ${message.id} was interrupted`, { cause: thrown });
        }
        const err = coerceError(thrown);
        log.info('task failed', { outcome: 'failure', durationMs: Date.now() - startedAt.getTime(), error: err.message, permanent: isPermanentError(err) });
        return await this.#finish(message, { ...base, startedAt }, reply, {
          outcome: 'failure',
          metricTask,
          error: { type: err.name || 'Error', message: err.message },
        });
      }
      const json = toJsonValue(result);
      if (!json.ok) {
        log.warn('task returned a value that is not JSON', { error: json.error });
        return await this.#finish(message, { ...base, startedAt }, reply, {
          outcome: 'failure',
          metricTask,
          error: { type: UNSERIALISABLE_RESULT, message: json.error },
        });
      }
      const disposition = await this.#finish(message, { ...base, startedAt }, reply, { outcome: 'success', metricTask, result: json.value });
      log.info('task succeeded', { outcome: 'success', durationMs: Date.now() - startedAt.getTime() });
      return disposition;
    } finally {
      timer();
      metrics.inFlight.dec({ queue: delivery.queue });
    }
  }

  /** Records the final state (retrying until the store takes it), then replies. */
  async #finish(
    message: TaskMessage,
    base: TaskWrite,
    reply: ReplySender,
    end: { outcome: Outcome; metricTask: string; result?: unknown; error?: { type: string; message: string }; state?: 'REVOKED' },
  ): Promise<Disposition> {
    const finishedAt = new Date();
    const state = end.state ?? (end.outcome === 'success' ? 'SUCCESS' : 'FAILURE');
    await this.#recordFinal({ ...base, state, result: end.result ?? null, error: end.error ?? null, finishedAt });
    this.#deps.metrics.tasks.inc({ task: end.metricTask, queue: base.queue, outcome: end.outcome });
    this.#reply(message, reply, {
      id: message.id,
      state,
      result: end.result,
      error: end.error ?? null,
      finishedAt,
      worker: this.#worker,
      retries: message.retries,
      startedAt: base.startedAt ?? null,
    });
    return 'ack';
  }

  /**
   * The ack waits for this, so a result the store did not take means the message stays
   * unacked: keep trying (the prefetch limit stops new work meanwhile) until the store is
   * back or the worker is forced to stop, when the message is requeued instead.
   */
  async #recordFinal(write: TaskWrite): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#deps.store.record(write);
        return;
      } catch (err) {
        if (this.#deps.stopping.aborted) throw err;
        const delayMs = Math.min(5_000, 100 * 2 ** attempt);
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

  #reply(message: TaskMessage, reply: ReplySender, outcome: TaskOutcome): void {
    if (!message.replyTo || message.ignoreResult) return;
    try {
      reply(message.replyTo, message.id, encodeResultBody(outcome));
    } catch (err) {
      // Replies are advisory: the waiter falls back to the store.
      this.#deps.logger.warn('could not send the reply', { taskId: message.id, task: message.name, err });
    }
  }

  /** A message that is not a task message: record what can be recorded, then drop it. */
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
    if (err.partial.id && err.partial.name) {
      await this.#recordFinal({
        id: err.partial.id,
        name: err.partial.name,
        queue: delivery.queue,
        state: 'FAILURE',
        error: { type: MALFORMED_MESSAGE, message: err.message },
        worker: this.#worker,
        finishedAt: new Date(),
      });
    }
    return 'ack';
  }
}

function toJsonValue(value: unknown): { ok: true; value: unknown } | { ok: false; error: string } {
  if (value === undefined) return { ok: true, value: null };
  try {
    // Stored and replied as JSON later; checked here so a bad value fails the task cleanly.
    return { ok: true, value: JSON.stringify(value) === undefined ? null : value };
  } catch (err) {
    return { ok: false, error: `The task's result cannot be stored as JSON: ${(err as Error).message}` };
  }
}

