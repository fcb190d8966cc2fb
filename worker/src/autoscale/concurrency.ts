/**
 * The one owner of a running worker's concurrency: `Worker.resize`, the autoscaler and (through
 * them) the remote-control commands change it here, and it applies each change to the
 * consumer's prefetch, the `celerity_worker_concurrency` gauge and the log.
 */
import type { Gauge } from 'prom-client';
import type { Logger } from '../../../shared/src/core/index.js';
import type { AutoscaleReason } from './decide.js';

/** Most tasks one worker runs at once, as `--concurrency` allows. */
const MAX_CONCURRENCY = 10_000;

/** Why the concurrency changed: an operator (`resize`, `pool_grow`…) or the autoscaler. */
export type ResizeReason = 'resize' | AutoscaleReason;

export interface ConcurrencyOptions {
  initial: number;
  /** Applies a new value to the consumer (its prefetch). */
  apply: (concurrency: number) => void;
  /** The queues consumed now (the gauge has one series per queue). */
  queues: () => readonly string[];
  gauge: Gauge<'queue'>;
  logger: Logger;
}

export class Concurrency {
  #value: number;
  readonly #options: ConcurrencyOptions;

  constructor(options: ConcurrencyOptions) {
    this.#options = options;
    this.#value = options.initial;
  }

  get value(): number {
    return this.#value;
  }

  /** Sets it (RangeError outside 1..10000); false when it already was `to`. */
  set(to: number, why: ResizeReason, details: Record<string, unknown> = {}): boolean {
    if (!Number.isInteger(to) || to < 1 || to > MAX_CONCURRENCY) {
      throw new RangeError(`concurrency must be a whole number from 1 to ${MAX_CONCURRENCY}, got ${to}`);
    }
    const from = this.#value;
    if (to === from) return false;
    this.#value = to;
    this.#options.apply(to);
    for (const queue of this.#options.queues()) this.#options.gauge.set({ queue }, to);
    this.#options.logger.info(`concurrency ${from} → ${to} (${why})`, { from, to, why, ...details });
    return true;
  }
}
