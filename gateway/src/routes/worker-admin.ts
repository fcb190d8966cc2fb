/**
 * The dashboard's worker admin actions, over Celery's remote control (the same commands as
 * `celerity inspect` / `celerity control`): admin keys only (api-policy.ts closes every route
 * it does not list).
 *
 *   GET    /api/v1/workers/live                       ping + stats of every worker that answers
 *   POST   /api/v1/workers/{name}/consumers            {"queue": q}       add_consumer
 *   DELETE /api/v1/workers/{name}/consumers/{queue}                       cancel_consumer
 *   POST   /api/v1/workers/{name}/pool                 {"grow": n} | {"shrink": n}
 *
 * A worker that does not answer within the timeout is `504 WORKER_NO_REPLY`; a refusal (its
 * `{"error": ...}` reply) `409 CONTROL_REFUSED` with the worker's text.
 */
import { Router } from 'express';
import { z } from 'zod';
import { assertUsableQueue } from '../../../shared/src/auth/index.js';
import type { ControlClient, ControlCommand } from '../../../shared/src/broker/index.js';
import { CelerityError, QUEUE_NAME_RULE, isValidQueueName, type Logger } from '../../../shared/src/core/index.js';

export interface WorkerAdminDeps {
  control: ControlClient;
  logger: Logger;
  /** How long a command waits for the worker's reply, in ms. @default 3000 */
  replyTimeoutMs?: number;
}

const poolSchema = z.union([z.object({ grow: z.number().int().min(1).max(1000) }).strict(), z.object({ shrink: z.number().int().min(1).max(1000) }).strict()]);
const consumerSchema = z.object({ queue: z.string() }).strict();

function queueOf(value: unknown): string {
  if (typeof value !== 'string' || !isValidQueueName(value)) throw new CelerityError('INVALID_QUEUE', `queue must name a task queue (${QUEUE_NAME_RULE})`);
  return value;
}

function bodyError(issues: readonly { path: PropertyKey[]; message: string }[]): CelerityError {
  return new CelerityError('INVALID_REQUEST', `Invalid request body: ${issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`).join('; ')}`);
}

export function workerAdminRoutes(deps: WorkerAdminDeps): Router {
  const router = Router();
  const timeoutMs = deps.replyTimeoutMs ?? 3_000;

  /** Sends `command` to the worker `name` and returns its reply, or throws the API's error. */
  async function ask(name: string, command: Omit<ControlCommand, 'destination'>): Promise<unknown> {
    const replies = await deps.control.call({ ...command, destination: [name] }, timeoutMs);
    const reply = replies.find((r) => name in r)?.[name];
    if (reply === undefined) throw new CelerityError('WORKER_NO_REPLY', `No reply from worker "${name}" within ${timeoutMs / 1000}s: it is gone or busy`);
    if (typeof reply === 'object' && reply !== null && 'error' in reply) {
      throw new CelerityError('CONTROL_REFUSED', `Worker "${name}" refused ${command.method}: ${String(reply.error)}`);
    }
    deps.logger.info('worker admin command', { worker: name, method: command.method, arguments: command.arguments });
    return reply;
  }

  router.get('/api/v1/workers/live', async (_req, res) => {
    const [pings, stats] = await Promise.all([deps.control.call({ method: 'ping' }, timeoutMs), deps.control.call({ method: 'stats' }, timeoutMs)]);
    const statsOf = Object.assign({}, ...stats) as Record<string, unknown>;
    const names = [...new Set(pings.flatMap((r) => Object.keys(r)))].sort();
    res.json({ workers: names.map((name) => ({ name, stats: statsOf[name] ?? null })) });
  });

  router.post('/api/v1/workers/:name/consumers', async (req, res) => {
    const parsed = consumerSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw bodyError(parsed.error.issues);
    const queue = queueOf(parsed.data.queue);
    assertUsableQueue(queue);
    res.json({ worker: req.params.name, reply: await ask(req.params.name, { method: 'add_consumer', arguments: { queue } }) });
  });

  router.delete('/api/v1/workers/:name/consumers/:queue', async (req, res) => {
    const queue = queueOf(req.params.queue);
    res.json({ worker: req.params.name, reply: await ask(req.params.name, { method: 'cancel_consumer', arguments: { queue } }) });
  });

  router.post('/api/v1/workers/:name/pool', async (req, res) => {
    const parsed = poolSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw bodyError(parsed.error.issues);
    const command = 'grow' in parsed.data ? { method: 'pool_grow', arguments: { n: parsed.data.grow } } : { method: 'pool_shrink', arguments: { n: parsed.data.shrink } };
    res.json({ worker: req.params.name, reply: await ask(req.params.name, command) });
  });

  return router;
}
