/**
 * How long the consumer holds a message whose handling failed for a reason that is not the
 * worker stopping (a publish the broker refuses every time, the database away past the
 * result-write budget) before it requeues it. Requeued at once it would come straight back,
 * in a hot loop: the delay doubles with each failure of the same message, from 500 ms to
 * 30 s. Nothing is lost: the message stays in the broker. After 5 failures in a row each one
 * is logged as an error (`MessageStuck`) for an operator.
 */
import type { ConsumeMessage } from 'amqplib';
import type { Logger } from '../../shared/src/core/index.js';

const REQUEUE_BASE_DELAY_MS = 500;
const REQUEUE_MAX_DELAY_MS = 30_000;
const STUCK_AFTER_FAILURES = 5;
const MAX_TRACKED_FAILURES = 10_000;

/** Which message a failure belongs to across redeliveries: its task id when it has one. */
export function messageKey(message: ConsumeMessage): string {
  const headers: Record<string, unknown> | undefined = message.properties.headers;
  const id: unknown = headers?.id ?? message.properties.correlationId;
  return typeof id === 'string' ? id : '(no id)';
}

export class RequeueBackoff {
  /** Failures in a row per message (task id), oldest first; bounded. */
  readonly #failures = new Map<string, number>();

  constructor(private readonly logger: Logger) {}

  /** The message completed: its count starts again. */
  forget(message: ConsumeMessage): void {
    this.#failures.delete(messageKey(message));
  }

  /** Counts one more failure of `message`, logs it, and returns how long to hold it, in ms. */
  failed(message: ConsumeMessage, queue: string, err: unknown): number {
    const key = messageKey(message);
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.delete(key);
    this.#failures.set(key, failures);
    // Bounded memory: forget the oldest messages first.
    if (this.#failures.size > MAX_TRACKED_FAILURES) this.#failures.delete(this.#failures.keys().next().value as string);
    const retryInMs = Math.min(REQUEUE_MAX_DELAY_MS, REQUEUE_BASE_DELAY_MS * 2 ** (failures - 1));
    const details = { queue, taskId: key, failures, retryInMs, err };
    if (failures >= STUCK_AFTER_FAILURES) this.logger.error('a message keeps failing to complete; it stays in its queue', { ...details, type: 'MessageStuck' });
    else this.logger.warn('task not completed; requeueing after a delay', details);
    return retryInMs;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function holdFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
