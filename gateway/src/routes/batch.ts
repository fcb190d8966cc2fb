/**
 * Batch submit, `POST /api/v1/tasks` with `{"tasks": [{name, args, kwargs, options}, ...]}`:
 * what BullMQ's `addBulk` is to its users. Every item goes through the same
 * `Submitter.prepare` as a single submit (one place for every per-task check), all of them
 * before anything is published; then all are published with confirms, pipelined.
 */
import { Router } from 'express';
import { CelerityError, stampEach, toRepresentation } from '../../../shared/src/core/index.js';
import { assertNoDedupe, pendingRecord, type Submission, type Submitter } from '../../../shared/src/submit/index.js';
import { accessOf, assertMaySubmit, ownerOf } from '../auth/access.js';

export interface BatchRoutesDeps {
  submitter: Submitter;
  /** Most tasks in one request (`GATEWAY_MAX_BATCH`). @default 1000 */
  maxBatch: number;
  isDraining: () => boolean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates the whole batch; throws naming the first failing index (`tasks[3]: ...`), with
 * status 400 whatever the item's own error was (an unknown name is 404 for a single submit,
 * but here the request as a whole is what is wrong).
 */
function prepareBatch(submitter: Submitter, body: unknown, maxBatch: number): Submission[] {
  if (!isObject(body) || !Array.isArray(body.tasks)) {
    throw new CelerityError('INVALID_REQUEST', 'The body must be {"tasks": [{"name", "args", "kwargs", "options"}, ...]}');
  }
  const extra = Object.keys(body).filter((key) => key !== 'tasks');
  if (extra.length > 0) throw new CelerityError('INVALID_REQUEST', `Unknown field(s) in the body: ${extra.join(', ')}`);
  const items: unknown[] = body.tasks;
  if (items.length === 0) throw new CelerityError('INVALID_REQUEST', 'tasks must list at least one task');
  if (items.length > maxBatch) {
    throw new CelerityError('PAYLOAD_TOO_LARGE', `tasks lists ${items.length} tasks; at most ${maxBatch} are accepted per request (GATEWAY_MAX_BATCH)`);
  }
  return items.map((item, index) => {
    if (!isObject(item) || typeof item.name !== 'string') {
      throw new CelerityError('INVALID_REQUEST', `tasks[${index}]: each task must be an object with a string "name"`);
    }
    const { name, ...rest } = item;
    try {
      const submission = submitter.prepare(name, rest);
      assertNoDedupe(submission, `tasks[${index}]`);
      return submission;
    } catch (err) {
      if (!(err instanceof CelerityError)) throw err;
      throw new CelerityError('INVALID_REQUEST', `tasks[${index}]: ${err.message} (${err.code})`, { cause: err });
    }
  });
}

export function batchRoutes(deps: BatchRoutesDeps): Router {
  const router = Router();

  router.post('/api/v1/tasks', async (req, res) => {
    if (deps.isDraining()) throw new CelerityError('SHUTTING_DOWN', 'The gateway is shutting down', { retryAfterS: 1 });
    if (req.get('idempotency-key') !== undefined) {
      throw new CelerityError('OPTION_NOT_SUPPORTED', 'The Idempotency-Key header is not supported yet; remove it');
    }
    // With API keys: every item within the key's scopes (also checked before the route by
    // batchScopes), and each task owned by the key so that it can read them back.
    const access = accessOf(res);
    const owner = ownerOf(res);
    const submissions = prepareBatch(deps.submitter, req.body, deps.maxBatch).map((submission) => {
      assertMaySubmit(access, submission.name);
      return { ...submission, owner };
    });
    stampEach(submissions, 'http.in', res.locals.arrivedAt as number | undefined);
    stampEach(submissions, 'validated');
    const outcomes = await deps.submitter.submitMany(submissions);
    const failed = outcomes.flatMap((outcome, index) => (outcome.status === 'rejected' ? [{ index, reason: outcome.reason as unknown }] : []));
    if (failed.length === 0) {
      res.status(202).json({ tasks: submissions.map((s) => toRepresentation(pendingRecord(s))) });
      stampEach(submissions, 'http.out');
      return;
    }
    // Some were confirmed and will run, others were not published at all: say which is which,
    // so the caller resubmits only the failed ones.
    const first = failed[0]!.reason;
    const code = first instanceof CelerityError ? first.code : 'BROKER_UNAVAILABLE';
    const status = first instanceof CelerityError && first.status >= 500 ? first.status : 503;
    res.setHeader('Retry-After', String(first instanceof CelerityError ? (first.retryAfterS ?? 2) : 2));
    res.status(status).json({
      error: {
        code,
        message: `${failed.length} of ${submissions.length} tasks were not published (first at index ${failed[0]!.index}: ${
          first instanceof Error ? first.message : String(first)
        }); the others were published and will run`,
      },
      tasks: submissions.map((s, index) => ({
        index,
        id: s.id,
        name: s.name,
        queue: s.queue,
        published: outcomes[index]?.status === 'fulfilled',
      })),
    });
  });

  return router;
}
