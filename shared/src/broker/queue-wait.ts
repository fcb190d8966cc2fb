/**
 * Queue wait (publish → start) needs to know when a message was published. AMQP's own
 * `timestamp` property has whole seconds only, so Celerity's gateway also sets a header with
 * milliseconds since the epoch. Python Celery clients set neither; for their messages the wait
 * is measured from `eta` when the message has one (the time it became due), otherwise it is
 * unknown and not observed (never guessed).
 */

import { parseEta } from './delay.js';

/** Header the gateway stamps on every task message: publish time, ms since the epoch. */
export const PUBLISHED_AT_HEADER = 'x-celerity-published-at';

/** Headers to merge into a task message's headers when publishing it. */
export function publishTimeHeaders(now = Date.now()): Record<string, number> {
  return { [PUBLISHED_AT_HEADER]: now };
}

/**
 * When the message was first published, from Celerity's header; `undefined` for a foreign
 * client's message. The worker records it as the task's `created_at` (the earliest value wins),
 * so a task whose PENDING row was never written still shows when it was submitted.
 */
export function publishedAt(headers: Record<string, unknown> | undefined): Date | undefined {
  const stamped = headers?.[PUBLISHED_AT_HEADER];
  return typeof stamped === 'number' && Number.isFinite(stamped) && stamped > 0 && stamped < 8.64e15 ? new Date(stamped) : undefined;
}

/** Where a queue-wait figure came from; `none` means the message carried no usable time. */
export type QueueWaitSource = 'published-at' | 'eta' | 'none';

/**
 * Seconds the message waited in the broker before a worker started it, or `undefined` when
 * the message does not say when it was published. Clock skew between hosts can make the
 * figure slightly negative: it is clamped to 0 rather than dropped.
 */
export function queueWaitSeconds(
  headers: Record<string, unknown> | undefined,
  eta: string | null,
  startedAtMs: number,
): { seconds: number; source: QueueWaitSource } | { seconds: undefined; source: 'none' } {
  const stamped = headers?.[PUBLISHED_AT_HEADER];
  if (typeof stamped === 'number' && Number.isFinite(stamped) && stamped > 0) {
    // A delayed task (countdown, eta, a retry's backoff) was not runnable before its eta:
    // the wait counts from whichever came later.
    const due = eta ? parseEta(eta) : undefined;
    const since = due !== undefined && due > stamped ? due : stamped;
    return { seconds: Math.max(0, (startedAtMs - since) / 1000), source: 'published-at' };
  }
  if (eta) {
    const due = Date.parse(eta);
    if (Number.isFinite(due)) return { seconds: Math.max(0, (startedAtMs - due) / 1000), source: 'eta' };
  }
  return { seconds: undefined, source: 'none' };
}
