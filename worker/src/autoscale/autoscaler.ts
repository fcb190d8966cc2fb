/**
 * Celery's `--autoscale max,min`: every tick (1 s) the worker counts the ready messages in the
 * queues it consumes now (a queue added at run time counts from its first tick) and lets
 * `decide` say whether to grow or shrink. A tick that cannot count (no connection) changes
 * nothing and is logged once per outage; ticks never overlap; `stop()` waits for the one running.
 */
import type { Counter } from 'prom-client';
import type { AutoscaleBounds } from '../../../shared/src/config/index.js';
import type { Logger } from '../../../shared/src/core/index.js';
import type { Concurrency } from './concurrency.js';
import { decide, type AutoscaleDecision } from './decide.js';

/** Time between two samples of the queues, in ms. */
export const AUTOSCALE_TICK_MS = 1_000;
/** Time without ready messages before the worker shrinks, in ms: Celery's AUTOSCALE_KEEPALIVE. */
export const AUTOSCALE_COOL_DOWN_MS = 30_000;

export interface AutoscalerOptions {
  bounds: AutoscaleBounds;
  /** @default AUTOSCALE_TICK_MS */
  tickMs?: number;
  /** @default AUTOSCALE_COOL_DOWN_MS */
  coolDownMs?: number;
  concurrency: Concurrency;
  /** The queues consumed now, read on every tick. */
  queues: () => readonly string[];
  /** Deliveries held now. */
  inFlight: () => number;
  /** Ready messages in these queues (see ready-count.ts). */
  countReady: (queues: readonly string[]) => Promise<number>;
  /** celerity_worker_autoscale_decisions_total. */
  decisions: Counter<'direction' | 'reason'>;
  logger: Logger;
  /** @default Date.now */
  now?: () => number;
}

export class Autoscaler {
  readonly #options: AutoscalerOptions;
  #bounds: AutoscaleBounds;
  #lastBusyAtMs: number;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  #stopped = false;
  #failing = false;

  constructor(options: AutoscalerOptions) {
    this.#options = options;
    this.#bounds = { ...options.bounds };
    this.#lastBusyAtMs = this.#now();
  }

  get bounds(): AutoscaleBounds {
    return { ...this.#bounds };
  }

  start(): void {
    this.#schedule();
  }

  /**
   * An operator set the concurrency (`resize`, `pool_grow`/`pool_shrink`): the bounds widen to
   * include it, as Celery's autoscaler does, so the next tick does not undo it at once.
   */
  widen(to: number): void {
    const before = this.bounds;
    this.#bounds = { max: Math.max(this.#bounds.max, to), min: Math.min(this.#bounds.min, to) };
    if (before.max !== this.#bounds.max || before.min !== this.#bounds.min) {
      this.#options.logger.info('autoscale bounds widened to the concurrency an operator set', { before, after: this.bounds, concurrency: to });
    }
    // Its slots count as busy: the cool-down runs from now.
    this.#lastBusyAtMs = this.#now();
  }

  /** One sample and decision (the timer calls it; tests may too). */
  async tick(): Promise<AutoscaleDecision | undefined> {
    const { concurrency, logger } = this.#options;
    const queues = this.#options.queues();
    let ready: number;
    try {
      ready = await this.#options.countReady(queues);
    } catch (err) {
      if (!this.#failing) logger.warn('autoscale: cannot count the ready messages; concurrency stays until it can', { err });
      this.#failing = true;
      return undefined;
    }
    if (this.#failing) logger.info('autoscale: counting the ready messages again');
    this.#failing = false;
    const now = this.#now();
    if (ready > 0) this.#lastBusyAtMs = now;
    const sample = { concurrency: concurrency.value, ready, inFlight: this.#options.inFlight(), idleForMs: now - this.#lastBusyAtMs };
    const decision = decide(this.#bounds, sample, this.#options.coolDownMs ?? AUTOSCALE_COOL_DOWN_MS);
    if (decision.kind === 'stay' || this.#stopped) return decision;
    concurrency.set(decision.to, decision.reason, { ready: sample.ready, inFlight: sample.inFlight, queues });
    this.#options.decisions.inc({ direction: decision.kind, reason: decision.reason });
    if (decision.kind === 'grow') this.#lastBusyAtMs = now;
    return decision;
  }

  /** Stops the ticks; resolves once the one running (if any) is done. Safe to call twice. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#tick = this.tick()
        .then(
          () => undefined,
          (err: unknown) => {
            this.#options.logger.error('autoscale tick failed', { err });
          },
        )
        .finally(() => this.#schedule());
    }, this.#options.tickMs ?? AUTOSCALE_TICK_MS);
    // The worker's own lifecycle keeps the process alive, not this timer.
    this.#timer.unref();
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }
}
