/**
 * The task API: submit (`POST /api/v1/tasks/:name`, optionally `?wait=`; `200` with
 * `Deduplicated: true` when `options.dedupe` returned an earlier task) and read
 * (`GET /api/v1/tasks/:id`, optionally `?wait=` long-poll).
 */
import { Router } from 'express';
import {
  CelerityError,
  isFinalState,
  stamp,
  toRepresentation,
} from '../../../shared/src/core/index.js';
import { isValidIdempotencyKey, type ClientCore, type Submitter } from '../../../shared/src/submit/index.js';
import { accessOf, assertMayReadTasks, assertMaySubmit, mayReadTask, mayReadTasks, ownerOf } from '../auth/access.js';
import { ClientGone } from '../client-gone.js';
import type { GatewayMetrics } from '../metrics.js';

/**
 * What the task routes are a thin HTTP layer over: the submit path (shared with the Node client),
 * which reads tasks too. The routes parse, check access, call, and map the answer or error to a status.
 */
export interface TaskRoutesDeps {
  submitter: Submitter;
  metrics: GatewayMetrics;
  maxWaitS: number;
  isDraining: () => boolean;
  /**
   * The submit path (idempotency, publish, and the reply-versus-confirm race of `?wait=`), and
   * reads and waits through its task ledger (never an earlier state than a `?wait=` answer here).
   */
  core: Pick<ClientCore, 'submit' | 'read' | 'ledger'>;
}

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

export function taskRoutes(deps: TaskRoutesDeps): Router {
  const router = Router();

  router.post('/api/v1/tasks/:name', async (req, res) => {
    if (deps.isDraining()) throw new CelerityError('SHUTTING_DOWN', 'The gateway is shutting down', { retryAfterS: 1 });
    const waitS = parseWait(req.query.wait, deps.maxWaitS);
    const key = req.get('idempotency-key');
    if (key !== undefined && !isValidIdempotencyKey(key)) {
      throw new CelerityError('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 printable ASCII characters');
    }
    assertMaySubmit(accessOf(res), req.params.name);
    if (waitS > 0) assertMayReadTasks(accessOf(res));
    const submission = { ...deps.submitter.prepare(req.params.name, req.body), owner: ownerOf(res) };
    stamp(submission.id, 'http.in', res.locals.arrivedAt as number | undefined);
    stamp(submission.id, 'validated');
    const waiting = waitS > 0;
    const started = process.hrtime.bigint();
    if (waiting) deps.metrics.rpcInFlight.inc();
    try {
      const answer = await deps.core.submit(submission, {
        ...(key !== undefined ? { idempotencyKey: key } : {}),
        ...(waiting ? { waitMs: waitS * 1000, signal: new ClientGone(req, res) } : {}),
        // A submit-only API key gets what its first submit got, never the task's result or error.
        readReplay: mayReadTasks(accessOf(res)),
      });
      if (answer.abandoned) return;
      if (answer.replayed) res.set('Idempotent-Replayed', 'true');
      // options.dedupe returned an earlier task: nothing new was accepted, so not a 202.
      if (answer.deduplicated) res.set('Deduplicated', 'true');
      if (submission.dedupe && (answer.deduplicated || answer.replaced !== undefined)) deps.metrics.tasksDeduplicated.inc({ task: submission.name, mode: submission.dedupe.mode });
      if (waiting && answer.finished && answer.published) {
        deps.metrics.rpcDuration.observe({ task: submission.name }, Number(process.hrtime.bigint() - started) / 1e9);
      }
      res
        .status((waiting && answer.finished) || answer.deduplicated ? 200 : 202)
        .location(`/api/v1/tasks/${answer.id}`)
        .json(toRepresentation(answer.task));
      stamp(answer.id, 'http.out');
    } finally {
      if (waiting) deps.metrics.rpcInFlight.dec();
    }
  });

  router.get('/api/v1/tasks/:id', async (req, res) => {
    const waitS = parseWait(req.query.wait, deps.maxWaitS);
    const id = req.params.id;
    // Watched before the read: a client that leaves during it must leave no wait behind.
    const signal = waitS > 0 ? new ClientGone(req, res) : undefined;
    // Through this gateway's task ledger: the worker replies before its commit lands.
    const task = await deps.core.read(id);
    // Someone else's task is "not found": its existence is not confirmed (nor waited on).
    if (!task || !mayReadTask(accessOf(res), task)) throw new CelerityError('TASK_NOT_FOUND', `No task with id "${id}"`);
    // Once the drain started, a long-poll (on a kept-alive connection) is answered as it
    // stands instead of holding the drain up, and its connection is closed after the answer.
    const draining = deps.isDraining();
    if (draining) res.set('Connection', 'close');
    if (!signal || draining || isFinalState(task.state)) {
      res.json(toRepresentation(task));
      return;
    }
    const finished = await deps.core.ledger.wait(id, { timeoutMs: waitS * 1000, pollAfterMs: 0, signal });
    if (signal.aborted) return;
    // A reply carries only the outcome; the read lays it over the whole record (the ledger kept
    // it before the wait was answered).
    const latest = finished?.kind === 'record' ? finished.record : ((await deps.core.read(id)) ?? task);
    res.json(toRepresentation(latest));
  });

  return router;
}
