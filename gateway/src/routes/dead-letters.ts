/**
 * Dead letters over HTTP (operators, the dashboard): list a queue's dead letters without
 * removing them, and re-drive them onto their queue. The CLI (`worker dead-letters`) does
 * the same through the same functions (shared/src/broker/dead-letters.ts and redrive.ts).
 */
import { Router } from 'express';
import { z } from 'zod';
import {
  CelerityError,
  QUEUE_NAME_RULE,
  isValidQueueName,
  type Logger,
} from '../../../shared/src/core/index.js';
import {
  listDeadLetters,
  redriveDeadLetters,
  type Broker,
  type RedriveParts,
} from '../../../shared/src/broker/index.js';
import { type TaskStore } from '../../../shared/src/store/index.js';

export interface DeadLetterRoutesDeps {
  broker: Broker;
  store: TaskStore;
  logger: Logger;
  /** The confirmed publisher and the task-queue set (declared with QUEUE_TYPES) a re-drive publishes with. */
  redrive: RedriveParts;
}

/** Most dead letters listed or re-driven by one request. */
const DEAD_LETTERS_MAX = 1000;

const redriveSchema = z
  .object({
    queue: z.string(),
    ids: z.array(z.string().min(1)).min(1).max(DEAD_LETTERS_MAX).optional(),
    limit: z.number().int().min(1).max(DEAD_LETTERS_MAX).optional(),
  })
  .strict();

function checkQueue(queue: unknown): string {
  if (typeof queue !== 'string' || !isValidQueueName(queue)) {
    throw new CelerityError('INVALID_QUEUE', `queue must name a task queue (${QUEUE_NAME_RULE})`);
  }
  return queue;
}

function parseLimit(value: unknown): number {
  if (value === undefined) return 100;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < 1 || Number(value) > DEAD_LETTERS_MAX) {
    throw new CelerityError('INVALID_REQUEST', `limit must be a whole number from 1 to ${DEAD_LETTERS_MAX}`);
  }
  return Number(value);
}

function connected(broker: Broker): NonNullable<Broker['connection']> {
  const connection = broker.connection;
  if (!connection) throw new CelerityError('BROKER_UNAVAILABLE', 'Not connected to the broker', { retryAfterS: 2 });
  return connection;
}

export function deadLetterRoutes(deps: DeadLetterRoutesDeps): Router {
  const router = Router();

  router.get('/api/v1/dead-letters', async (req, res) => {
    const queue = checkQueue(req.query.queue);
    const limit = parseLimit(req.query.limit);
    const deadLetters = await listDeadLetters(connected(deps.broker), queue, limit);
    res.json({ queue, deadLetters });
  });

  router.post('/api/v1/dead-letters/redrive', async (req, res) => {
    const parsed = redriveSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      throw new CelerityError('INVALID_REQUEST', `Invalid request body: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
    }
    const queue = checkQueue(parsed.data.queue);
    const { redriven, skipped } = await redriveDeadLetters(deps.redrive, queue, {
      ...(parsed.data.ids ? { ids: parsed.data.ids } : {}),
      limit: parsed.data.limit ?? DEAD_LETTERS_MAX,
      beforePublish: (ids) => deps.store.resetForRedrive(ids),
    });
    deps.logger.info('dead letters re-driven', { queue, redriven: redriven.length, skipped: skipped.length });
    // skipped: stale dead letters of tasks that finished otherwise since; acked, not re-driven.
    res.json({ queue, redriven: redriven.length, ids: redriven, skipped });
  });

  return router;
}
