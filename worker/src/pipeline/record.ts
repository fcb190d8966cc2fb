/**
 * Writes to the result store on the pipeline's behalf: the claim a task starts from, and the
 * final write the ack waits for, retried while the database is away but never for ever.
 */
import {
  CelerityError,
  isFinalState,
  unstorableTextReason,
  type Logger,
  type TaskWrite,
} from '../../../shared/src/core/index.js';
import { OWNER_HEADER, publishedAt, type TaskMessage } from '../../../shared/src/broker/index.js';
import { type ClaimResult, type TaskStore } from '../../../shared/src/store/index.js';
import { claimRefusal, type Counts, type Refusal } from './admit.js';
import { RESULT_NOT_STORED, type Delivery } from './types.js';

/** How long a result write is retried while the database is away, in ms. */
const DEFAULT_RECORD_RETRY_MS = 120_000;

/** The task as this worker writes it (state STARTED until a step says otherwise). */
export function baseWrite(delivery: Delivery, message: TaskMessage, worker: string, counts: Counts): TaskWrite {
  // The submitting key, when a Celerity gateway sent it: kept once set (the store never replaces an owner).
  const owner = delivery.properties.headers?.[OWNER_HEADER];
  const createdAt = publishedAt(delivery.properties.headers);
  return {
    ...(typeof owner === 'string' && owner !== '' && owner.length <= 200 && !unstorableTextReason(owner) ? { owner } : {}),
    id: message.id,
    name: message.name,
    queue: delivery.queue,
    state: 'STARTED',
    args: message.args,
    kwargs: message.kwargs,
    retries: message.retries,
    worker,
    attempts: counts.attempts,
    deliveries: counts.deliveries,
    ...(createdAt ? { createdAt } : {}),
  };
}

/** A delivery's claim on its run: it holds the run with these counts, or why it may not run. */
export type Claimed = { claimed: true; counts: Counts } | { claimed: false; refusal: Refusal };

/**
 * Claims the run for this delivery (`write`: its STARTED row, with the holder): committed before
 * the task runs, so that of two copies at most one runs at a time and none after a final state.
 * A start the store refuses for good (a value it cannot hold) is `unclaimable`; the database
 * being away rejects (the consumer requeues the message).
 */
export async function claimRun(store: Pick<TaskStore, 'claim'>, write: TaskWrite & { leaseHolder: string }, leaseMs: number): Promise<Claimed> {
  const { state: _state, attempts: _attempts, deliveries: _deliveries, leaseExpiresAt: _lease, ...start } = write;
  let result: ClaimResult;
  try {
    result = await store.claim({ write: start, leaseMs });
  } catch (err) {
    if (!isRefusedForGood(err)) throw err;
    return { claimed: false, refusal: { kind: 'unclaimable', reason: err instanceof Error ? err.message : String(err) } };
  }
  if (result.claimed) return { claimed: true, counts: { attempts: result.attempts, deliveries: result.deliveries } };
  return { claimed: false, refusal: claimRefusal({ name: start.name, retries: start.retries ?? 0 }, result.found, Date.now(), result.revoked) };
}

function isRefusedForGood(err: unknown): err is CelerityError {
  return err instanceof CelerityError && (err.code === 'UNSTORABLE_VALUE' || err.code === 'STORE_WRITE_REFUSED');
}

export interface RecorderDeps {
  store: Pick<TaskStore, 'record'>;
  logger: Logger;
  /** Stops retrying (the worker is being forced down). */
  stopping: AbortSignal;
  /** @default 120000 ms */
  recordRetryMs?: number;
}

/**
 * The ack waits for `recordFinal`; it never holds the slot for ever:
 * - the database is away (DATABASE_UNAVAILABLE): retried with backoff (100 ms doubling to
 *   5 s) for up to `recordRetryMs`; then it throws, the consumer requeues the message and
 *   the task runs again later (at-least-once), or at once when the worker is forced down;
 * - the store refused the write for good (UNSTORABLE_VALUE, STORE_WRITE_REFUSED): not
 *   retried; a final state is recorded once more as a FAILURE without the refused values
 *   (`ResultNotStoredError`, the reason in its message); if that is refused too, or the write
 *   was a RETRY, it is logged and the message acked (a failure's dead letter keeps it).
 */
export async function recordFinal(deps: RecorderDeps, write: TaskWrite): Promise<void> {
  const deadline = Date.now() + (deps.recordRetryMs ?? DEFAULT_RECORD_RETRY_MS);
  const about = { taskId: write.id, task: write.name, queue: write.queue };
  for (let attempt = 1; ; attempt++) {
    try {
      const landed = await deps.store.record(write);
      // First final wins: a copy whose lease lapsed and was taken over, or that finished after
      // another copy did, changes nothing; its outcome is logged here and dropped.
      if (landed === false) deps.logger.warn('the store kept the state of another run of this task; this outcome is dropped', { ...about, state: write.state, error: write.error?.message });
      return;
    } catch (err) {
      if (deps.stopping.aborted) throw err;
      if (!isDatabaseUnavailable(err)) return recordRefused(deps, write, err);
      const delayMs = Math.min(5_000, 100 * 2 ** attempt);
      if (Date.now() + delayMs > deadline) {
        deps.logger.error('could not record the task result in time; the message goes back to the queue', { ...about, attempts: attempt, err });
        throw err;
      }
      deps.logger.error('could not record the task result; retrying', { ...about, attempt, retryInMs: delayMs, err });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

function isDatabaseUnavailable(err: unknown): boolean {
  return err instanceof CelerityError && err.code === 'DATABASE_UNAVAILABLE';
}

/** The store refused `write` for a reason no retry fixes: record what can be recorded. */
async function recordRefused(deps: RecorderDeps, write: TaskWrite, err: unknown): Promise<void> {
  const log = deps.logger.child({ taskId: write.id, task: write.name, queue: write.queue });
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
  await deps.store.record(fallback).catch((fallbackErr: unknown) => {
    log.error('the store refused the FAILURE that replaces the refused outcome too; acking anyway', { err: fallbackErr });
  });
}
