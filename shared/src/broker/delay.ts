/**
 * Delayed delivery in the broker, for retries with backoff and for `countdown`/`eta`: a task
 * waiting to run is a persistent message in a delay queue, never an unacked message held in
 * a worker's memory (which RabbitMQ's consumer_timeout would cancel after 30 minutes, and a
 * crash would redeliver at once).
 *
 * Topology (described in topology.ts, `delayTopology`): a durable headers exchange
 * `celerity.delay` and one durable queue per delay level, `celerity.delay.<ms>`, with that TTL
 * (x-message-ttl) and the default exchange as dead-letter exchange. A delayed message is
 * published to `celerity.delay` with routing key = its task queue and header `celerity-delay:
 * <ms>`, which routes it to the level's queue (a headers exchange ignores the routing key, and
 * headers starting with `x-` don't take part in matching — hence the name). When its TTL runs
 * out the broker dead-letters it to the default exchange with its original routing key: back
 * onto the task queue.
 *
 * Each queue has one fixed TTL, so messages leave it in the order they entered (per-message
 * TTLs in one queue would only expire at the head). Levels are 100 ms × 2^k; a delay is
 * covered greedily by the largest level that fits, and a worker that receives a task whose
 * `eta` is still ahead sends it round again: never early, at most ~100 ms plus a hop late.
 */
export const DELAY_EXCHANGE = 'celerity.delay';
export const DELAY_HEADER = 'celerity-delay';
/** Start of a delay queue's name; the level in ms follows. */
export const DELAY_QUEUE_PREFIX = 'celerity.delay.';

/** 100 ms, 200 ms, … 2^20 × 100 ms (about 29 hours). */
export const DELAY_LEVELS_MS: readonly number[] = Array.from({ length: 21 }, (_, k) => 100 * 2 ** k);

export function delayQueueName(levelMs: number): string {
  return `${DELAY_QUEUE_PREFIX}${levelMs}`;
}

/** The level to wait in next for `remainingMs` still to go: the largest that fits, at least the smallest. */
export function delayLevelFor(remainingMs: number): number {
  let level = DELAY_LEVELS_MS[0] ?? 100;
  for (const candidate of DELAY_LEVELS_MS) {
    if (candidate <= remainingMs) level = candidate;
    else break;
  }
  return level;
}

/** Headers the broker adds on dead-lettering; dropped before a message is published again. */
export const BROKER_DEATH_HEADERS = ['x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason', 'x-last-death-exchange', 'x-last-death-queue', 'x-last-death-reason'];

/** When `eta` (ISO 8601, Celery's header) is, in ms since the epoch; undefined when absent or unreadable. */
export function parseEta(eta: string | null | undefined): number | undefined {
  if (!eta) return undefined;
  // Celery treats a naive datetime as UTC (enable_utc); JavaScript would read it as local time.
  const ms = Date.parse(/T.*([zZ]|[+-]\d\d:?\d\d)$/.test(eta) ? eta : `${eta}Z`);
  return Number.isNaN(ms) ? undefined : ms;
}
