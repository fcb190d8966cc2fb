/**
 * The submit options that map one-to-one onto Celery's message: `expires` and `priority`.
 *
 * - `expires`: seconds from now (a positive number) or an ISO 8601 date with a time zone, as
 *   Celery's `apply_async(expires=...)` takes either. It becomes the `expires` header (an ISO
 *   date) and the AMQP `expiration` property (per-message TTL), so the broker drops the task
 *   when it is due and a worker that receives it late marks it REVOKED without running it.
 *   A date already past is refused: a 202 promises the task will run. So is one further than
 *   RabbitMQ's per-message TTL limit (2^32 - 1 ms, about 49.7 days): the broker would refuse
 *   the `expiration` property.
 * - `priority`: an integer 0..255, the AMQP `priority` property. RabbitMQ orders by it only in
 *   queues declared with `x-max-priority` (QUEUE_MAX_PRIORITY or a task's `maxPriority`, as
 *   Celery's `task_queue_max_priority`); on any other queue it is carried without effect.
 */
import { z } from 'zod';
import { MAX_MESSAGE_TTL_MS } from '../broker/index.js';
import { CelerityError } from '../core/index.js';

/** Largest AMQP priority (an octet). */
const MAX_PRIORITY = 255;
/** Longest `expires` in seconds we accept: RabbitMQ's per-message TTL limit (about 49.7 days). */
const MAX_EXPIRES_S = Math.floor(MAX_MESSAGE_TTL_MS / 1000);

export const celeryOptionsSchema = {
  expires: z
    .union([
      z.number().positive('expires must be a positive number of seconds').max(MAX_EXPIRES_S),
      z.iso.datetime({ offset: true, message: 'expires must be seconds from now or an ISO 8601 date with a time zone' }),
    ])
    .optional(),
  priority: z.number().int().min(0).max(MAX_PRIORITY).optional(),
};

export interface CeleryOptions {
  /** ISO 8601 date after which the task must not run. */
  expires?: string;
  priority?: number;
}

/** Turns validated options into message fields; `undefined` when neither is set. */
export function resolveCeleryOptions(options: { expires?: number | string | undefined; priority?: number | undefined }, now = Date.now()): CeleryOptions | undefined {
  if (options.expires === undefined && options.priority === undefined) return undefined;
  const resolved: CeleryOptions = {};
  if (options.expires !== undefined) {
    const at = typeof options.expires === 'number' ? now + options.expires * 1000 : Date.parse(options.expires);
    if (!(at > now)) {
      throw new CelerityError('INVALID_OPTIONS', `options.expires is in the past (${new Date(at).toISOString()}); the task would never run`);
    }
    if (at - now > MAX_EXPIRES_S * 1000) {
      throw new CelerityError('INVALID_OPTIONS', `options.expires is more than ${MAX_EXPIRES_S} s (about 49.7 days) ahead: RabbitMQ's per-message TTL cannot be longer`);
    }
    resolved.expires = new Date(at).toISOString();
  }
  if (options.priority !== undefined) resolved.priority = options.priority;
  return resolved;
}
