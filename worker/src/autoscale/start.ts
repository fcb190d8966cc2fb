/**
 * Wires a worker's concurrency control: the one `Concurrency` its consumer follows and, with
 * `--autoscale`, the autoscaler that moves it (the worker starts it once it exists).
 */
import type { Broker } from '../../../shared/src/broker/index.js';
import type { AutoscaleBounds } from '../../../shared/src/config/index.js';
import type { Logger } from '../../../shared/src/core/index.js';
import type { Consumer } from '../consumer.js';
import type { WorkerMetrics } from '../metrics.js';
import { AUTOSCALE_COOL_DOWN_MS, AUTOSCALE_TICK_MS, Autoscaler } from './autoscaler.js';
import { Concurrency } from './concurrency.js';
import { countReady } from './ready-count.js';

/** How often the autoscaler samples and how long it waits before shrinking. */
export interface AutoscaleTiming {
  /** Time between two samples of the queues, in ms. @default 1000 */
  tickMs?: number;
  /** Time without ready messages before shrinking, in ms (Celery's AUTOSCALE_KEEPALIVE). @default 30000 */
  coolDownMs?: number;
}

export function startConcurrencyControl(options: {
  initial: number;
  bounds: AutoscaleBounds | undefined;
  timing: AutoscaleTiming | undefined;
  consumer: Consumer;
  broker: Broker;
  metrics: WorkerMetrics;
  logger: Logger;
}): { concurrency: Concurrency; autoscaler: Autoscaler | undefined } {
  const { consumer, broker, metrics, logger, bounds } = options;
  const concurrency = new Concurrency({
    initial: options.initial,
    apply: (n) => consumer.resize(n),
    queues: () => consumer.queues,
    gauge: metrics.concurrency,
    logger,
  });
  // At 0 from start-up on every worker (with or without --autoscale), as every counter is.
  for (const [direction, reason] of [['grow', 'backlog'], ['shrink', 'idle']] as const) metrics.autoscaleDecisions.inc({ direction, reason }, 0);
  if (!bounds) return { concurrency, autoscaler: undefined };
  const autoscaler = new Autoscaler({
    bounds,
    ...options.timing,
    concurrency,
    queues: () => consumer.queues,
    inFlight: () => consumer.inFlight,
    countReady: (queues) => countReady(broker, queues),
    decisions: metrics.autoscaleDecisions,
    logger,
  });
  logger.info('autoscaling concurrency', { ...bounds, tickMs: options.timing?.tickMs ?? AUTOSCALE_TICK_MS, coolDownMs: options.timing?.coolDownMs ?? AUTOSCALE_COOL_DOWN_MS });
  return { concurrency, autoscaler };
}
