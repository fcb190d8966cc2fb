/**
 * The worker's per-task rate limits (Celery's `rate_limit` control command and
 * `Worker.setRateLimit`). A limited task's delivery waits here before it starts: a delayed start,
 * never a failure. The wait holds the delivery (and its prefetch slot) unacked, as Celery's
 * workers hold a rate-limited request; a changed or removed limit wakes the waiters at once, and
 * `close()` (the worker stopping) sends them back to the queue.
 */
import { CelerityError, type Logger } from '../../../shared/src/core/index.js';
import { TaskInterruptedError } from '../task-runner.js';
import { parseRateLimit } from './parse-rate.js';
import { TokenBucket } from './token-bucket.js';

export interface RateLimitsOptions {
  /** Whether this worker runs the task; a limit for any other name is refused (UNKNOWN_TASK). */
  knows: (task: string) => boolean;
  logger: Logger;
  /** Called once per start that had to wait. */
  onDelayed?: (task: string) => void;
  /** @default Date.now */
  now?: () => number;
}

export class RateLimits {
  readonly #buckets = new Map<string, TokenBucket>();
  /** Wakes every waiter (a limit changed, or the worker is stopping). */
  readonly #wakers = new Set<() => void>();
  readonly #options: RateLimitsOptions;
  #closed = false;

  constructor(options: RateLimitsOptions) {
    this.#options = options;
  }

  /**
   * Sets (`'10/s'`, `'100/m'`, `'1000/h'`) or removes (`null`, or a rate of 0) the task's limit.
   * Throws INVALID_RATE_LIMIT for a rate that does not parse, UNKNOWN_TASK for a task this
   * worker does not run.
   */
  set(task: string, rate: string | null): void {
    if (!this.#options.knows(task)) throw new CelerityError('UNKNOWN_TASK', `this worker does not run a task named "${task}"`);
    const perSecond = rate === null ? 0 : parseRateLimit(rate);
    const before = this.#buckets.get(task)?.perSecond ?? null;
    if (perSecond > 0) this.#buckets.set(task, new TokenBucket(perSecond));
    else this.#buckets.delete(task);
    this.#options.logger.info(perSecond > 0 ? 'task rate limit set' : 'task rate limit removed', {
      task,
      rate: perSecond > 0 ? rate : null,
      perSecond: perSecond > 0 ? perSecond : null,
      before,
    });
    this.#wake();
  }

  /** The task's limit in starts per second, or undefined when it has none. */
  perSecond(task: string): number | undefined {
    return this.#buckets.get(task)?.perSecond;
  }

  /**
   * Resolves when the task the headers name may start. Returns at once when the signal aborts (the caller checks
   * it); throws TaskInterruptedError once the worker is stopping (the message is requeued).
   */
  async beforeStart(headers: unknown, signal: AbortSignal): Promise<void> {
    if (this.#buckets.size === 0 && !this.#closed) return;
    const task: unknown = (headers as { task?: unknown } | undefined)?.task;
    if (typeof task !== 'string') return;
    let delayed = false;
    for (;;) {
      if (this.#closed) throw new TaskInterruptedError('the worker is stopping; a rate-limited task goes back to its queue');
      const bucket = this.#buckets.get(task);
      if (!bucket || signal.aborted) return;
      const waitMs = bucket.reserve((this.#options.now ?? Date.now)());
      if (waitMs <= 0) return;
      if (!delayed) this.#options.onDelayed?.(task);
      delayed = true;
      await this.#sleep(waitMs, signal);
      // Woken early by a change: take a token from the new limit (or start, if none).
      if (this.#closed || this.#buckets.get(task) !== bucket) continue;
      return;
    }
  }

  /** Sends every waiter back to its queue, now and from now on. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakers.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
