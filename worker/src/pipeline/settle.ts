/**
 * Step 4 of the pipeline: makes a task's fate durable before the ack. A final state is replied
 * once the task's first row is committed (a task that ran has its claim, committed before it
 * ran; a refused one waits for the final write itself), without waiting for the final commit,
 * which follows; then it is dead-lettered when it is a failure (confirmed), then counted and
 * announced, and the ack comes last (the caller's). A crash after the reply and before the
 * commit leaves the message unacked: the task runs again (at-least-once) and the store still
 * ends final; the processes that got the reply show it until then (their task ledger,
 * shared/src/submit/task-ledger.ts). A next attempt
 * (RETRY) is not final: it is scheduled, then recorded, then acked, with no reply.
 */
import {
  REPUBLISHED_HEADER,
  stamp,
  type ResultMode,
  type Logger,
  type TaskRecord,
  type TaskWrite,
} from '../../../shared/src/core/index.js';
import {
  encodeResultBody,
  type DeadReason,
  type MessageFormatError,
  type TaskMessage,
  type TaskOutcome,
} from '../../../shared/src/broker/index.js';
import { formatIssues } from '../../../shared/src/app/index.js';
import { REVOKED_ERROR_TYPE } from '../../../shared/src/store/index.js';
import type { Outcome, WorkerMetrics } from '../metrics.js';
import type { TaskHooks } from '../task-hooks.js';
import type { Refusal } from './admit.js';
import { crashAt, type FaultPoint } from './fault-point.js';
import { follow, type FollowDeps } from './follow.js';
import { announceFinish, taskInfo } from './observe.js';
import { baseWrite, recordFinal, type RecorderDeps } from './record.js';
import { deadLetter, publishDelayed, type RepublishDeps } from './republish.js';
import { writesRows } from './rows.js';
import type { Verdict } from './verdict.js';
import type { RateGate } from '../flow/rate-gate.js';
import { CONCURRENCY_KEY_ERROR } from '../flow/decide.js';
import { DELIVERY_LIMIT, INVALID_ARGUMENTS, INVALID_FLOW_KEY, MALFORMED_MESSAGE, UNKNOWN_TASK, type Delivery, type Disposition, type ReplySender, type TaskError } from './types.js';

export interface SettleDeps {
  recorder: RecorderDeps;
  republish: RepublishDeps;
  metrics: Pick<WorkerMetrics, 'tasks' | 'deadLetters'>;
  hooks: TaskHooks | undefined;
  logger: Logger;
  workerName: string;
  /** The lease a running task holds, in ms: the longest a deferred copy waits. */
  leaseMs: number;
  /** For the chaos tests only (fault-point.ts): die there. @default none */
  faultPoint?: FaultPoint;
  /** Sends what a task's canvas says comes next, and counts workflow tasks (follow.ts). @default none */
  follow?: FollowDeps;
  /** Pauses a task's rate key when it asks to (ctx.backoff, RateLimitedError). */
  rates: Pick<RateGate, 'pause'>;
}

/** The task being settled and where its answer goes. */
export interface Job {
  delivery: Delivery;
  message: TaskMessage;
  reply: ReplySender;
  log: Logger;
  /** The catalogue has the task's name. */
  known: boolean;
  /** `task` label: the name when known, else `(unknown)` (labels stay bounded). */
  metricTask: string;
  /** The write of the task's STARTED row, when one was made: the reply waits for its commit. */
  firstRow?: Promise<void>;
  /** What the store keeps of this run (rows.ts); `none` writes nothing. */
  mode: ResultMode;
  /** The rate key the run spent (flow/rate-gate.ts): what a backoff pauses. */
  flowKey?: string;
}

/** How a task ends in the store. */
interface Ending {
  outcome: Outcome;
  result?: unknown;
  error?: TaskError;
  /** Set: a FAILURE is dead-lettered with this reason. */
  deadReason?: DeadReason;
  state?: 'REVOKED';
}

/** A task that did not run: record, defer, answer or drop it, as the refusal says. */
export async function settleRefusal(deps: SettleDeps, job: Job, refusal: Refusal): Promise<Disposition> {
  const { delivery, message, log } = job;
  const fresh = { attempts: message.retries + 1, deliveries: 1 };
  switch (refusal.kind) {
    case 'unstorable-arguments': {
      // A foreign client sent them (the gateway refuses them with a 400): fail the task without them.
      log.warn('arguments the store cannot hold: recorded as FAILURE and dead-lettered', { path: refusal.path, reason: refusal.reason });
      const { args: _args, kwargs: _kwargs, ...withoutArguments } = baseWrite(delivery, message, deps.workerName, fresh);
      const text = `Arguments the result store cannot hold: ${refusal.path} ${refusal.reason}`;
      return finish(deps, job, withoutArguments, { outcome: 'rejected', deadReason: 'invalid-arguments', error: { type: INVALID_ARGUMENTS, message: text } });
    }
    case 'expired':
      log.info('task expired before it could run: recorded as REVOKED', { expires: message.expires });
      return finish(deps, job, baseWrite(delivery, message, deps.workerName, fresh), {
        outcome: 'rejected',
        state: 'REVOKED',
        error: { type: REVOKED_ERROR_TYPE, message: 'expired' },
      });
    case 'not-due':
      await publishDelayed(deps.republish, delivery, message.id, {}, refusal.delayMs);
      log.debug('task not due yet; delayed again', { eta: message.eta });
      return 'ack';
    case 'finished':
      return answerFinished(deps, job, refusal.stored);
    case 'running': {
      // Sent round the delay queues marked as seen before, so it checks the store again when it
      // comes back: by then the task has finished (answered) or its lease has lapsed (it runs).
      const delayMs = Math.min(Math.max(refusal.leaseMs, 1_000), deps.leaseMs);
      log.info('task still running elsewhere; this copy is deferred, not run', { holder: refusal.holder ?? 'this worker', retryInMs: delayMs });
      await publishDelayed(deps.republish, delivery, message.id, { [REPUBLISHED_HEADER]: true }, delayMs);
      return 'ack';
    }
    case 'superseded':
      log.info('redelivered message superseded by its retry; dropping it', { retries: refusal.retries });
      return 'ack';
    case 'revoked':
      return settleRevoked(deps, job, refusal.stored);
    case 'name-mismatch':
    case 'unclaimable':
      return rejectUnclaimed(deps, job, refusal);
    case 'delivery-limit':
      log.error('message keeps getting redelivered without finishing; dead-lettering it', { deliveries: refusal.deliveries, limit: refusal.limit });
      return finish(deps, job, baseWrite(delivery, message, deps.workerName, refusal), {
        outcome: 'rejected',
        deadReason: 'delivery-limit',
        error: { type: DELIVERY_LIMIT, message: `Started ${refusal.deliveries} times without finishing (limit ${refusal.limit}): it may crash its worker` },
      });
    case 'unknown-task':
      log.error('unknown task: recorded as FAILURE and dead-lettered', { known: job.known, outcome: 'rejected' });
      return finish(deps, job, baseWrite(delivery, message, deps.workerName, refusal), {
        outcome: 'rejected',
        deadReason: 'unknown-task',
        error: { type: UNKNOWN_TASK, message: `This worker has no task named "${message.name}"` },
      });
    case 'invalid-arguments':
      log.warn('invalid arguments: recorded as FAILURE and dead-lettered', { issues: refusal.issues, outcome: 'rejected' });
      return finish(deps, job, baseWrite(delivery, message, deps.workerName, refusal), {
        outcome: 'rejected',
        deadReason: 'invalid-arguments',
        error: { type: INVALID_ARGUMENTS, message: `Invalid arguments for ${message.name}: ${formatIssues(refusal.issues)}` },
      });
    case 'flow-parked':
      // Its message is kept in flow_waiting (committed): the ack takes it off the queue.
      return 'ack';
    case 'flow-cancelled':
      log.info('concurrency key full: the newest task is dropped, recorded as REVOKED', { reason: refusal.reason, outcome: 'revoked' });
      return finish(deps, job, baseWrite(delivery, message, deps.workerName, fresh), {
        outcome: 'revoked',
        state: 'REVOKED',
        error: { type: REVOKED_ERROR_TYPE, message: refusal.reason },
      });
    case 'invalid-flow-key':
    case 'flow-key-error': {
      // A rate key (or units) or a concurrency key its task's function could not give.
      const error = refusal.kind === 'invalid-flow-key' ? { type: INVALID_FLOW_KEY, message: `No rate key for ${message.name}: ${refusal.reason}` } : { type: CONCURRENCY_KEY_ERROR, message: refusal.message };
      log.warn('no usable flow key: recorded as FAILURE and dead-lettered', { error: error.message, outcome: 'rejected' });
      return finish(deps, job, baseWrite(delivery, message, deps.workerName, refusal), { outcome: 'rejected', deadReason: 'invalid-arguments', error });
    }
  }
}

/** A task that ran: its result, its next attempt, or its failure. `write` carries `startedAt`. */
export async function settleVerdict(deps: SettleDeps, job: Job, write: TaskWrite & { startedAt: Date }, verdict: Verdict): Promise<Disposition> {
  const { log } = job;
  const durationMs = (): number => Date.now() - write.startedAt.getTime();
  switch (verdict.kind) {
    case 'success': {
      const disposition = await finish(deps, job, write, { outcome: 'success', result: verdict.result });
      log.info('task succeeded', { outcome: 'success', durationMs: durationMs() });
      return disposition;
    }
    case 'retry':
      log.info('task failed; retrying', { outcome: 'retry', durationMs: durationMs(), error: verdict.error.message, retryInMs: verdict.delayMs, maxRetries: verdict.maxRetries });
      return retry(deps, job, write, verdict.error, verdict.delayMs);
    case 'failure':
      if (verdict.cause === 'raised') {
        const fields = { outcome: 'failure', durationMs: durationMs(), error: verdict.error.message, permanent: verdict.permanent, retries: job.message.retries };
        log.warn('task failed', fields);
      } else if (verdict.cause === 'too-large') log.warn('task result over the size limit: recorded as FAILURE', { error: verdict.error.message });
      else log.warn('task returned a value that cannot be stored', { error: verdict.error.message });
      return finish(deps, job, write, { outcome: 'failure', deadReason: 'failed', error: verdict.error });
    case 'backoff':
      return deps.rates.pause({ ...job, flowKey: job.flowKey ?? '', leaseHolder: write.leaseHolder ?? undefined }, verdict.pauseS);
    case 'revoked':
      log.info('task stopped by a revoke: recorded as REVOKED', { outcome: 'revoked', durationMs: durationMs() });
      return finish(deps, job, write, { outcome: 'revoked', state: 'REVOKED', error: verdict.error });
  }
}

/**
 * A task revoked before it started: never run. The store's REVOKED row (the revoke wrote it)
 * is replied as it stands; without one (no row when it was revoked) REVOKED is recorded here.
 */
async function settleRevoked(deps: SettleDeps, job: Job, stored: TaskRecord | undefined): Promise<Disposition> {
  job.log.info('task revoked before it started: not run', { outcome: 'revoked' });
  if (!stored) {
    const fresh = { attempts: job.message.retries, deliveries: 0 };
    return finish(deps, job, baseWrite(job.delivery, job.message, deps.workerName, fresh), { outcome: 'revoked', state: 'REVOKED', error: { type: REVOKED_ERROR_TYPE, message: 'revoked' } });
  }
  deps.metrics.tasks.inc({ task: job.metricTask, queue: job.delivery.queue, outcome: 'revoked' });
  sendReply(deps, job, storedOutcome(stored));
  return 'ack';
}

/** A message that is not a task message: record what can be recorded, dead-letter it. */
export async function settleMalformed(deps: SettleDeps, delivery: Delivery, err: MessageFormatError): Promise<Disposition> {
  deps.logger.error('malformed message on the queue', {
    queue: delivery.queue,
    code: err.code,
    error: err.message,
    taskId: err.partial.id,
    task: err.partial.name,
    bytes: delivery.content.length,
  });
  deps.metrics.tasks.inc({ task: '(unknown)', queue: delivery.queue, outcome: 'rejected' });
  const error = { type: MALFORMED_MESSAGE, message: err.message };
  if (err.partial.id && err.partial.name) {
    const write: TaskWrite = { id: err.partial.id, name: err.partial.name, queue: delivery.queue, state: 'FAILURE', error, worker: deps.workerName, finishedAt: new Date() };
    await recordFinal(deps.recorder, write);
  }
  await deadLetter(deps.republish, delivery, 'malformed', error, err.partial.id);
  deps.metrics.deadLetters.inc({ task: '(unknown)', queue: delivery.queue, reason: 'malformed' });
  return 'ack';
}

/**
 * Records the final state (retrying until the store takes it), replies with it once the task's
 * first row is committed, dead-letters a
 * failure, then counts and announces it; the ack follows. The reply says this worker records
 * the outcome itself, so no gateway writes it.
 */
async function finish(deps: SettleDeps, job: Job, base: TaskWrite, end: Ending): Promise<Disposition> {
  const { delivery, message } = job;
  const finishedAt = new Date();
  const state = end.state ?? (end.outcome === 'success' ? 'SUCCESS' : 'FAILURE');
  const outcome: TaskOutcome = {
    id: message.id,
    state,
    result: end.result,
    error: end.error ?? null,
    finishedAt,
    worker: deps.workerName,
    retries: message.retries,
    ...(base.attempts !== undefined ? { attempts: base.attempts } : {}),
    startedAt: base.startedAt ?? null,
  };
  if (deps.faultPoint === 'after-reply') {
    await job.firstRow?.catch(() => undefined);
    sendReply(deps, job, outcome);
    return crashAt(deps.faultPoint, job.log, message.id);
  }
  const recorded = writesRows(job.mode) ? recordFinal(deps.recorder, { ...base, state, result: end.result ?? null, error: end.error ?? null, finishedAt }) : Promise.resolve();
  // Awaited below; marked handled now, so a failure while the reply waits is not "unhandled".
  recorded.catch(() => undefined);
  // The reply waits for the task's first row (STARTED, else this final one): whoever got the
  // answer then finds the task through any gateway — in an earlier state at worst, never 404.
  // Under load the STARTED write may be merged into this final one: then it waits for that.
  await (job.firstRow ? job.firstRow.then(undefined, () => recorded) : recorded);
  sendReply(deps, job, outcome);
  await recorded;
  stamp(message.id, 'recorded');
  if (state === 'FAILURE' && end.deadReason) {
    await deadLetter(deps.republish, delivery, end.deadReason, end.error ?? null, message.id);
    deps.metrics.deadLetters.inc({ task: job.metricTask, queue: delivery.queue, reason: end.deadReason });
  }
  if (deps.follow) await follow(deps.follow, message, delivery.queue, { state, result: end.result ?? null, error: end.error ?? null }, job.log);
  deps.metrics.tasks.inc({ task: job.metricTask, queue: base.queue, outcome: end.outcome });
  announceFinish(deps.hooks, message, base, end, finishedAt);
  if (deps.faultPoint === 'after-commit') return crashAt(deps.faultPoint, job.log, message.id);
  return 'ack';
}

/**
 * Schedules the next attempt: a copy of the message with `retries` + 1 and its `eta`,
 * through the broker's delay queues (confirmed), then RETRY in the store, then the ack of
 * this copy. A crash before the ack runs this attempt again: at-least-once.
 */
async function retry(deps: SettleDeps, job: Job, base: TaskWrite, error: TaskError, delayMs: number): Promise<Disposition> {
  const { delivery, message } = job;
  const eta = new Date(Date.now() + delayMs);
  await publishDelayed(deps.republish, delivery, message.id, { retries: message.retries + 1, eta: eta.toISOString() }, delayMs);
  if (writesRows(job.mode)) await recordFinal(deps.recorder, { ...base, state: 'RETRY', error, finishedAt: null });
  deps.metrics.tasks.inc({ task: job.metricTask, queue: base.queue, outcome: 'retry' });
  deps.hooks?.retried(taskInfo(message, base.queue), error);
  return 'ack';
}

/**
 * A message the store would not let start (its id is another task's, or a value the store
 * cannot hold): dead-lettered as malformed, with no write and no reply (either could land on
 * the task whose id it reuses).
 */
async function rejectUnclaimed(deps: SettleDeps, job: Job, refusal: Extract<Refusal, { kind: 'name-mismatch' | 'unclaimable' }>): Promise<Disposition> {
  const text = refusal.kind === 'name-mismatch' ? `Task id ${job.message.id} belongs to a task named "${refusal.storedName}"` : `The store cannot hold this task's start: ${refusal.reason}`;
  job.log.error('message refused by the store: dead-lettered as malformed', { reason: refusal.kind, error: text, outcome: 'rejected' });
  deps.metrics.tasks.inc({ task: job.metricTask, queue: job.delivery.queue, outcome: 'rejected' });
  await deadLetter(deps.republish, job.delivery, 'malformed', { type: MALFORMED_MESSAGE, message: text }, job.message.id);
  return 'ack';
}

/** A copy of a finished task: reply from the store, never run it again. */
async function answerFinished(deps: SettleDeps, job: Job, stored: TaskRecord): Promise<Disposition> {
  job.log.info('redelivered task already finished; not running it again', { state: stored.state });
  if (stored.state === 'FAILURE') {
    // Its dead letter may not have reached the broker before the ack was lost: publish it
    // (again). A duplicate dead letter is re-driven once (redrive skips repeated ids).
    await deadLetter(deps.republish, job.delivery, 'failed', stored.error ?? null, job.message.id);
    deps.metrics.deadLetters.inc({ task: job.metricTask, queue: job.delivery.queue, reason: 'failed' });
  }
  // Its canvas may not have gone on before the ack was lost: again, with the same task ids.
  if (deps.follow) await follow(deps.follow, job.message, job.delivery.queue, { state: stored.state, result: stored.result, error: stored.error ?? null }, job.log);
  sendReply(deps, job, storedOutcome(stored));
  return 'ack';
}

function storedOutcome(stored: TaskRecord): TaskOutcome {
  return {
    id: stored.id,
    state: stored.state,
    result: stored.result,
    error: stored.error ?? null,
    finishedAt: stored.finishedAt ?? new Date(),
    worker: stored.worker ?? null,
    retries: stored.retries,
    ...(stored.attempts !== undefined ? { attempts: stored.attempts } : {}),
    startedAt: stored.startedAt ?? null,
  };
}

function sendReply(deps: SettleDeps, job: Job, outcome: TaskOutcome): void {
  const { message } = job;
  if (!message.replyTo || message.ignoreResult) return;
  try {
    job.reply(message.replyTo, message.id, encodeResultBody(outcome));
    stamp(message.id, 'reply.sent');
  } catch (err) {
    // Replies are advisory: the waiter falls back to the store.
    deps.logger.warn('could not send the reply', { taskId: message.id, task: message.name, err });
  }
}
