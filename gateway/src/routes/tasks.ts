/**
 * The task API: submit (`POST /api/v1/tasks/:name`, optionally `?wait=`) and read
 * (`GET /api/v1/tasks/:id`, optionally `?wait=` long-poll).
 */
import { Router, type Request, type Response } from 'express';
import {
  CelerityError,
  isFinalState,
  pendingRecord,
  toRepresentation,
  type Finished,
  type IdempotentSubmits,
  type Submission,
  type Submitter,
  type TaskRecord,
  type TaskStore,
  type TaskWaiters,
} from '../../../shared/src/index.js';
import { accessOf, assertMayReadTasks, assertMaySubmit, mayReadTask, mayReadTasks, ownerOf } from '../auth/access.js';
import type { GatewayMetrics } from '../metrics.js';

/** What the task routes are a thin HTTP layer over: the submit path (shared with the Node client) and the store. */
export interface TaskRoutesDeps {
  submitter: Submitter;
  store: TaskStore;
  waiters: TaskWaiters;
  metrics: GatewayMetrics;
  maxWaitS: number;
  isDraining: () => boolean;
  idempotency: IdempotentSubmits;
}

/** Idempotency keys: printable ASCII, as the IETF draft and Stripe allow, 1–255 characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** A `?wait=` reply is expected well within this; after it, the waiter also polls the store. */
const REPLY_GRACE_MS = 1_000;

/** Parses `?wait=`: absent → 0; otherwise seconds in (0, maxWaitS]. */
export function parseWait(value: unknown, maxWaitS: number): number {
  if (value === undefined) return 0;
  if (typeof value !== 'string' || !/^\d+(\.\d+)?$/.test(value)) {
    throw new CelerityError('INVALID_WAIT', `wait must be a number of seconds from 0 to ${maxWaitS}`);
  }
  const seconds = Number(value);
  if (seconds > maxWaitS) throw new CelerityError('INVALID_WAIT', `wait must be a number of seconds from 0 to ${maxWaitS}`);
  return seconds;
}

/** An AbortSignal that fires when the client goes away before we answer. */
function clientGone(req: Request, res: Response): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  req.on('aborted', () => controller.abort());
  return controller.signal;
}

function finishedRecord(submission: Submission, finished: Finished): TaskRecord {
  if (finished.kind === 'record') return finished.record;
  const { outcome } = finished;
  return {
    ...pendingRecord(submission),
    state: outcome.state,
    result: outcome.result,
    error: outcome.error ?? null,
    retries: outcome.retries ?? 0,
    startedAt: outcome.startedAt ?? null,
    finishedAt: outcome.finishedAt,
    worker: outcome.worker ?? null,
    // Celery workers don't count attempts; one reply means at least one.
    attempts: outcome.attempts ?? 1,
  };
}

/**
 * A repeated submit with a known Idempotency-Key whose publish was confirmed: the task the key
 * first created, as it is now (waiting for it like GET ?wait= when asked to). The store may not
 * have its row yet (the PENDING write is best-effort). A caller that may not read tasks (a
 * submit-only API key) gets what its first submit got, the PENDING representation, never the
 * task's result or error.
 */
async function replayIdempotent(req: Request, res: Response, deps: TaskRoutesDeps, taskId: string, submission: Submission, waitS: number): Promise<void> {
  res.set('Idempotent-Replayed', 'true').location(`/api/v1/tasks/${taskId}`);
  if (!mayReadTasks(accessOf(res))) {
    res.status(202).json(toRepresentation({ ...pendingRecord(submission), id: taskId }));
    return;
  }
  let task = (await deps.store.get(taskId)) ?? { ...pendingRecord(submission), id: taskId };
  if (waitS > 0 && !isFinalState(task.state)) {
    const signal = clientGone(req, res);
    const finished = await deps.waiters.wait(taskId, { timeoutMs: waitS * 1000, pollAfterMs: 0, signal });
    if (signal.aborted) return;
    task = finished?.kind === 'record' ? finished.record : ((await deps.store.get(taskId)) ?? task);
  }
  res.status(waitS > 0 && isFinalState(task.state) ? 200 : 202).json(toRepresentation(task));
}

const noFinal = (): undefined => undefined;
const finalOnly = (finished: Finished | undefined): Finished | undefined =>
  finished && isFinalState(finished.kind === 'record' ? finished.record.state : finished.outcome.state) ? finished : undefined;

export function taskRoutes(deps: TaskRoutesDeps): Router {
  const router = Router();

  router.post('/api/v1/tasks/:name', async (req, res) => {
    if (deps.isDraining()) throw new CelerityError('SHUTTING_DOWN', 'The gateway is shutting down', { retryAfterS: 1 });
    const waitS = parseWait(req.query.wait, deps.maxWaitS);
    const key = req.get('idempotency-key');
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new CelerityError('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 printable ASCII characters');
    }
    assertMaySubmit(accessOf(res), req.params.name);
    if (waitS > 0) assertMayReadTasks(accessOf(res));
    let submission: Submission = { ...deps.submitter.prepare(req.params.name, req.body), owner: ownerOf(res) };
    // Idempotency keys are per API key: another key's "k1" must neither replay nor reveal our task.
    const claimKey = key !== undefined && submission.owner ? `${submission.owner}:${key}` : key;

    if (claimKey !== undefined) {
      // Claimed before publishing, so two concurrent submits with one key create one task; a
      // claim whose publish was never confirmed is published again (see idempotent-submits.ts).
      const start = await deps.idempotency.start(claimKey, submission);
      if (start.kind === 'replay') {
        await replayIdempotent(req, res, deps, start.taskId, submission, waitS);
        return;
      }
      submission = start.submission;
      if (start.replayed) res.set('Idempotent-Replayed', 'true');
    }
    const location = `/api/v1/tasks/${submission.id}`;
    const publish = (wantReply: boolean) => (): Promise<void> => deps.submitter.submit(submission, { wantReply });
    const submit = (wantReply: boolean): Promise<void> =>
      claimKey === undefined ? publish(wantReply)() : deps.idempotency.publish(claimKey, submission, publish(wantReply));

    if (waitS === 0) {
      await submit(false);
      res.status(202).location(location).json(toRepresentation(pendingRecord(submission)));
      return;
    }

    // Register before publishing: the reply can arrive before the publisher confirm does.
    const started = process.hrtime.bigint();
    const gone = clientGone(req, res);
    const cancel = new AbortController();
    deps.metrics.rpcInFlight.inc();
    const waiting = deps.waiters.wait(submission.id, {
      timeoutMs: waitS * 1000,
      pollAfterMs: REPLY_GRACE_MS,
      signal: AbortSignal.any([gone, cancel.signal]),
    });
    try {
      const submitted = submit(true);
      // A final reply proves the task ran and its result is committed, so it need not wait for
      // the confirm too: RabbitMQ confirms a persistent message once it is on disk or consumed
      // *and acked*, and the worker acks after replying, so the confirm mostly comes last.
      const early = await Promise.race([submitted.then(noFinal, noFinal), waiting.then(finalOnly)]);
      // submit() logs its own failure; the task ran regardless.
      if (early) submitted.catch(() => undefined);
      else {
        try {
          await submitted;
        } catch (err) {
          cancel.abort(); // nothing will ever answer the waiter we registered
          await waiting;
          throw err;
        }
      }
      const finished = early ?? (await waiting);
      if (finished && isFinalState(finished.kind === 'record' ? finished.record.state : finished.outcome.state)) {
        deps.metrics.rpcDuration.observe({ task: submission.name }, Number(process.hrtime.bigint() - started) / 1e9);
        res.status(200).location(location).json(toRepresentation(finishedRecord(submission, finished)));
      } else if (!gone.aborted) {
        res.status(202).location(location).json(toRepresentation(pendingRecord(submission)));
      }
    } finally {
      deps.metrics.rpcInFlight.dec();
    }
  });

  router.get('/api/v1/tasks/:id', async (req, res) => {
    const waitS = parseWait(req.query.wait, deps.maxWaitS);
    const id = req.params.id;
    const task = await deps.store.get(id);
    // Someone else's task is "not found": its existence is not confirmed (nor waited on).
    if (!task || !mayReadTask(accessOf(res), task)) throw new CelerityError('TASK_NOT_FOUND', `No task with id "${id}"`);
    if (waitS === 0 || isFinalState(task.state)) {
      res.json(toRepresentation(task));
      return;
    }
    const signal = clientGone(req, res);
    const finished = await deps.waiters.wait(id, { timeoutMs: waitS * 1000, pollAfterMs: 0, signal });
    if (signal.aborted) return;
    // A reply carries only the outcome; the store has the whole record (or the last known one).
    const latest = finished?.kind === 'record' ? finished.record : ((await deps.store.get(id)) ?? task);
    res.json(toRepresentation(latest));
  });

  return router;
}
