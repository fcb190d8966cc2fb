/**
 * The leases of the tasks this process runs: one statement every third of the lease renews
 * them all, so a redelivered copy elsewhere sees the task is alive and waits instead of
 * running it twice. The timer runs only while something runs.
 */
import type { Logger, TaskStore } from '../../../shared/src/index.js';

export class Leases {
  readonly #running = new Set<string>();
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

  has(id: string): boolean {
    return this.#running.has(id);
  }

  /** When a lease taken now expires. */
  expiresAt(nowMs: number): Date {
    return new Date(nowMs + this.#leaseMs);
  }

  hold(id: string): void {
    this.#running.add(id);
    if (this.#renewal) return;
    this.#renewal = setInterval(() => {
      this.#store.renewLeases([...this.#running], this.expiresAt(Date.now())).catch((err: unknown) => {
        this.#logger.warn('could not renew task leases', { tasks: this.#running.size, err });
      });
    }, this.#leaseMs / 3);
    this.#renewal.unref();
  }

  release(id: string): void {
    this.#running.delete(id);
    if (this.#running.size > 0 || !this.#renewal) return;
    clearInterval(this.#renewal);
    this.#renewal = undefined;
  }
}
