/**
 * The queue a submit names in `options.queue`, checked against the gateway's queue rule
 * (shared/src/auth/queue-access.ts) before any route runs, for a single submit and every item of
 * a batch: reserved names never, the app's and configured queues always, others only when
 * GATEWAY_ALLOWED_QUEUES or the API key's `queue:` scopes name them (an admin key: any queue
 * that is not reserved).
 */
import express from 'express';
import { CelerityError } from '../../../shared/src/core/index.js';
import { QueueAllowlist, type QueueAllowlistOptions } from '../../../shared/src/auth/index.js';
import { accessOf, type Access } from './access.js';

/** The queue-name patterns this caller brings besides the gateway's own. */
function callerPatterns(access: Access): readonly string[] {
  if (access.kind === 'open') return [];
  return access.key.scopes.admin ? ['*'] : (access.key.scopes.queues ?? []);
}

function namedQueue(item: unknown): string | undefined {
  const queue = (item as { options?: { queue?: unknown } } | null)?.options?.queue;
  return typeof queue === 'string' ? queue : undefined;
}

export function submitQueues(options: QueueAllowlistOptions): express.Router {
  const allowlist = new QueueAllowlist(options);
  const router = express.Router();
  router.post('/api/v1/tasks/:name', (req, res, next) => {
    const queue = namedQueue(req.body);
    if (queue !== undefined) allowlist.assertAllowed(queue, callerPatterns(accessOf(res)));
    next();
  });
  router.post('/api/v1/tasks', (req, res, next) => {
    const tasks = (req.body as { tasks?: unknown } | undefined)?.tasks;
    if (!Array.isArray(tasks)) return next();
    const patterns = callerPatterns(accessOf(res));
    tasks.forEach((item: unknown, index) => {
      const queue = namedQueue(item);
      if (queue === undefined) return;
      try {
        allowlist.assertAllowed(queue, patterns);
      } catch (err) {
        if (!(err instanceof CelerityError)) throw err;
        throw new CelerityError(err.code, `tasks[${index}]: ${err.message}`, { cause: err });
      }
    });
    next();
  });
  // A workflow's steps, each named as the workflow route names it (chain[2], chord.body).
  router.post('/api/v1/workflows', (req, res, next) => {
    const patterns = callerPatterns(accessOf(res));
    for (const [where, item] of workflowSteps(req.body)) {
      const queue = namedQueue(item);
      if (queue === undefined) continue;
      try {
        allowlist.assertAllowed(queue, patterns);
      } catch (err) {
        if (!(err instanceof CelerityError)) throw err;
        throw new CelerityError(err.code, `${where}: ${err.message}`, { cause: err });
      }
    }
    next();
  });
  return router;
}

/** The steps of a workflow body, with where each is; nothing for a body of another shape (the route refuses it). */
function workflowSteps(body: unknown): [string, unknown][] {
  const b = (body ?? {}) as { chain?: unknown; group?: unknown; chord?: { header?: unknown; body?: unknown } | null };
  const list = (value: unknown, where: string): [string, unknown][] => (Array.isArray(value) ? value.map((item, i) => [`${where}[${i}]`, item]) : []);
  return [
    ...list(b.chain, 'chain'),
    ...list(b.group, 'group'),
    ...list(b.chord?.header, 'chord.header'),
    ...(b.chord?.body !== undefined ? [['chord.body', b.chord.body] as [string, unknown]] : []),
  ];
}
