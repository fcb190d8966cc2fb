/**
 * A handle on one task, as `client.submit()` and `client.get(id)` give it: what Celery's
 * `AsyncResult` is to its users. `result()` waits on the client's reply queue and on the
 * result store at once, so it works for a task any process submitted; `state()` and `info()`
 * read through the client's task ledger, so they never go back on what `result()` said.
 */
import {
  CelerityError,
  MAX_TIMER_MS,
  stamp,
  type TaskRepresentation,
  type TaskState,
  toRepresentation,
} from '../core/index.js';
import { REPLY_GRACE_MS, revokeTask, type ClientCore, type Finished, type Revoker } from '../submit/index.js';
import { TaskFailedError, TaskTimeoutError } from './errors.js';

export interface ResultOptions {
  /** How long to wait, in ms; past it `result()` rejects with TaskTimeoutError (RESULT_TIMEOUT). @default no limit */
  timeoutMs?: number;
  /** Stops waiting (rejects with the signal's reason); the task is not affected. */
  signal?: AbortSignal;
}

export class TaskHandle<R = unknown> {
  readonly #core: ClientCore;
  readonly #expectReplyUntil: number;
  readonly #isClosed: () => boolean;
  readonly #revoker: Pick<Revoker, 'revoke'>;

  /**
   * `submit()` with `options.dedupe` returned an earlier task with its key instead of
   * submitting this one (singleton, throttle); false otherwise.
   */
  readonly deduplicated: boolean;

  /** @internal Made by the client. */
  constructor(
    /** The task id. */
    readonly id: string,
    core: ClientCore,
    options: { submittedHere: boolean; isClosed: () => boolean; revoker: Pick<Revoker, 'revoke'>; deduplicated?: boolean },
  ) {
    this.deduplicated = options.deduplicated ?? false;
    this.#core = core;
    this.#revoker = options.revoker;
    this.#expectReplyUntil = options.submittedHere ? Date.now() + REPLY_GRACE_MS : 0;
    this.#isClosed = options.isClosed;
  }

  /**
   * Waits for the task to finish. Resolves with its result when it ends `SUCCESS`; rejects with
   * TaskFailedError (`type`, `taskMessage`) when it ends `FAILURE` or `REVOKED`, with
   * TaskTimeoutError after `timeoutMs`, and with SHUTTING_DOWN when the client closes.
   */
  async result(options: ResultOptions = {}): Promise<R> {
    this.#assertOpen();
    const timeoutMs = Math.min(options.timeoutMs ?? MAX_TIMER_MS, MAX_TIMER_MS);
    const finished = await this.#core.ledger.wait(this.id, {
      timeoutMs,
      pollAfterMs: Math.max(0, this.#expectReplyUntil - Date.now()),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    stamp(this.id, 'result');
    if (!finished) {
      if (options.signal?.aborted) throw options.signal.reason;
      this.#assertOpen();
      throw new TaskTimeoutError(this.id, timeoutMs);
    }
    return outcomeOf<R>(this.id, finished);
  }

  /**
   * The task's state now, from the result store, or from the final reply this client received
   * while the worker's commit is still to land (never earlier than what `result()` gave);
   * `PENDING` when neither knows the task (yet), as Celery answers.
   */
  async state(): Promise<TaskState> {
    this.#assertOpen();
    return (await this.#core.read(this.id))?.state ?? this.#core.ledger.outcomeOf(this.id)?.state ?? 'PENDING';
  }

  /**
   * The task as the store holds it (the HTTP API's representation), with the final reply this
   * client received laid over it until the worker's commit lands; undefined when it has no row.
   */
  async info(): Promise<TaskRepresentation | undefined> {
    this.#assertOpen();
    const record = await this.#core.read(this.id);
    return record ? toRepresentation(record) : undefined;
  }

  /**
   * Revokes the task: if it has not started it never runs and ends `REVOKED`; with
   * `terminate: true` a running one is stopped too (its `ctx.signal` fires, a CPU task's thread
   * is stopped) and ends `REVOKED`. Durable: also a worker that is down now never runs it.
   * Resolves with the task afterwards (a finished task unchanged); rejects with TASK_NOT_FOUND
   * when the store has no such task.
   */
  async revoke(options: { terminate?: boolean; reason?: string } = {}): Promise<TaskRepresentation> {
    this.#assertOpen();
    const task = await revokeTask({ read: (id) => this.#core.read(id), revoker: this.#revoker }, this.id, { ...options, by: 'client' });
    if (!task) throw new CelerityError('TASK_NOT_FOUND', `No task with id "${this.id}"`);
    return toRepresentation(task);
  }

  #assertOpen(): void {
    if (this.#isClosed()) throw new CelerityError('SHUTTING_DOWN', 'The client is closed');
  }
}

/** The result of a finished task, or its failure as a TaskFailedError. */
function outcomeOf<R>(id: string, finished: Finished): R {
  const { state, result, error } = finished.kind === 'record' ? finished.record : finished.outcome;
  if (state === 'SUCCESS') return result as R;
  throw new TaskFailedError(id, state === 'REVOKED' ? 'REVOKED' : 'FAILURE', error);
}
