/**
 * The leases this process's deliveries hold: one per delivery (keyed by the delivery's token,
 * never by task id), so that of two copies of one task here, one ending never drops the
 * other's lease. One statement every third of the lease renews them all, and renews only the
 * rows each delivery holds itself: a lease another worker took over is left alone. The timer
 * runs only while something runs.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../../shared/src/core/index.js';
import type { TaskStore } from '../../../shared/src/store/index.js';

/** One delivery's hold on a task: the lease holder the store records. */
export interface Hold {
  token: string;
  id: string;
  /** `<worker>/<token>`: readable in the store, unique per delivery. */
  holder: string;
}

export class Leases {
  readonly #held = new Map<string, Hold>();
  readonly #store: Pick<TaskStore, 'renewLeases'>;
  readonly #leaseMs: number;
  readonly #logger: Logger;
  #renewal: NodeJS.Timeout | undefined;

  /** @param leaseMs how long a lease lasts from each renewal, in ms */
  constructor(store: Pick<TaskStore, 'renewLeases'>, leaseMs: number, logger: Logger) {
    this.#store = store;
    this.#leaseMs = leaseMs;
    this.#logger = logger;
  }

  get leaseMs(): number {
    return this.#leaseMs;
  }

  /** A new holder for one delivery of task `id` (not held until `hold`). */
  holderFor(id: string, worker: string): Hold {
    const token = randomUUID();
    return { token, id, holder: `${worker}/${token}` };
  }

  /** Whether any delivery here holds task `id`. */
  has(id: string): boolean {
    for (const hold of this.#held.values()) if (hold.id === id) return true;
    return false;
  }

  hold(hold: Hold): void {
    this.#held.set(hold.token, hold);
    if (this.#renewal) return;
    this.#renewal = setInterval(() => {
      const holds = [...this.#held.values()].map(({ id, holder }) => ({ id, holder }));
      this.#store.renewLeases(holds, this.#leaseMs).catch((err: unknown) => {
        this.#logger.warn('could not renew task leases', { tasks: holds.length, err });
      });
    }, this.#leaseMs / 3);
    this.#renewal.unref();
  }

  /** Stops renewing this delivery's lease (a no-op for a token not held). */
  release(token: string): void {
    this.#held.delete(token);
    if (this.#held.size > 0 || !this.#renewal) return;
    clearInterval(this.#renewal);
    this.#renewal = undefined;
  }
}
