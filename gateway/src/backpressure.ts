/**
 * Backpressure for "the queue is too long": with QUEUE_MAX_LENGTH set, a submit to a queue
 * that already holds its maximum of ready messages gets 503 QUEUE_FULL with Retry-After,
 * instead of the queue growing until RabbitMQ's memory or disk alarm blocks every publisher.
 *
 * The depth comes from the queue-stats sampler (a passive declare every few seconds; no
 * management plugin), plus what this gateway published since that sample, so a burst from
 * one gateway cannot overshoot by a whole sampling interval. Other gateways' publishes since
 * the sample are not seen: the limit is approximate by at most one interval of their rate.
 * A queue whose last sample is stale (the broker is away) is not limited here — a publish to
 * an unreachable broker fails on its own; a queue not sampled yet counts this gateway's
 * publishes only.
 *
 * Celery-compatible by design: RabbitMQ's own `x-max-length` would be a queue argument, and a
 * Celery client declaring the same queue without it gets PRECONDITION_FAILED.
 */
import { CelerityError } from '../../shared/src/core/index.js';
import { type QueueMaxLength } from '../../shared/src/config/index.js';

export interface QueueDepthSource {
  get(queue: string): { messages: number; sampledAt: number } | undefined;
  readonly intervalMs: number;
}

/** `Retry-After` for a full queue: long enough for workers to take some of it. */
const FULL_RETRY_AFTER_S = 5;

export class QueueLimits {
  readonly #published = new Map<string, { sampledAt: number; count: number }>();

  constructor(
    private readonly maxLength: QueueMaxLength,
    private readonly depths: QueueDepthSource,
  ) {}

  /** The configured maximum for `queue`; 0 = no limit. */
  limitOf(queue: string): number {
    return this.maxLength.perQueue[queue] ?? this.maxLength.default;
  }

  /** Throws QUEUE_FULL when `queue` holds its maximum. */
  check(queue: string): void {
    const limit = this.limitOf(queue);
    if (limit === 0) return;
    const sample = this.depths.get(queue);
    // Not sampled yet (a queue this gateway just started using): what we published since is
    // all we know, and it is in the queue unless a worker took it.
    if (sample && Date.now() - sample.sampledAt > 3 * this.depths.intervalMs) return;
    const estimate = (sample?.messages ?? 0) + this.#since(queue, sample?.sampledAt ?? 0);
    if (estimate >= limit) {
      throw new CelerityError('QUEUE_FULL', `Queue "${queue}" is full (${estimate} waiting, limit ${limit}); try again later`, {
        retryAfterS: FULL_RETRY_AFTER_S,
      });
    }
  }

  /** Counts a confirmed publish to `queue` until the next sample includes it. */
  notePublished(queue: string): void {
    if (this.limitOf(queue) === 0) return;
    const sampledAt = this.depths.get(queue)?.sampledAt ?? 0;
    const entry = this.#published.get(queue);
    if (!entry || entry.sampledAt !== sampledAt) this.#published.set(queue, { sampledAt, count: 1 });
    else entry.count++;
  }

  #since(queue: string, sampledAt: number): number {
    const entry = this.#published.get(queue);
    return entry && entry.sampledAt === sampledAt ? entry.count : 0;
  }
}
