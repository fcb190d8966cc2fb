/** The worker's parts as the remote-control commands see them (control-target.ts). */
import type { Catalogue } from '../../../shared/src/app/index.js';
import type { WorkerConfig } from '../../../shared/src/config/index.js';
import type { Consumer } from '../consumer.js';
import type { WorkerMetrics } from '../metrics.js';
import type { ControlTarget, ControlWorker } from './control-target.js';

export interface ControlWorkerParts {
  /** The worker itself once created (its optional revoke/resize/… parts), or its name before. */
  target: () => ControlTarget;
  consumer: Consumer;
  metrics: WorkerMetrics;
  config: Pick<WorkerConfig, 'amqpUrls' | 'concurrency'> & { timeLimitS: number | undefined };
  tasks: Catalogue;
  /** Graceful stop. */
  shutdown: () => void;
}

function brokerAddress(url: string | undefined): ControlWorker['broker'] {
  try {
    const parsed = new URL(url ?? '');
    return { hostname: parsed.hostname, port: Number(parsed.port || (parsed.protocol === 'amqps:' ? 5671 : 5672)), virtualHost: decodeURIComponent(parsed.pathname.slice(1)) || '/' };
  } catch {
    return { hostname: '', port: 0, virtualHost: '/' };
  }
}

export function controlWorker(parts: ControlWorkerParts): ControlWorker {
  const { consumer, metrics, config } = parts;
  return {
    target: parts.target,
    taskNames: parts.tasks.names(),
    queues: () => consumer.queues,
    addQueue: async (queue) => {
      const added = await consumer.addQueue(queue);
      if (added) metrics.concurrency.set({ queue }, parts.target().concurrency ?? config.concurrency);
      return added;
    },
    cancelQueue: async (queue) => {
      const cancelled = await consumer.cancelQueue(queue);
      if (cancelled) metrics.concurrency.remove({ queue });
      return cancelled;
    },
    deliveries: () => consumer.deliveries(),
    totals: async () => {
      const totals: Record<string, number> = {};
      for (const { labels, value } of (await metrics.tasks.get()).values) {
        const task = labels.task;
        // A retry is the same task again: counted once, when it ends.
        if (typeof task === 'string' && labels.outcome !== 'retry' && value > 0) totals[task] = (totals[task] ?? 0) + value;
      }
      return totals;
    },
    concurrency: config.concurrency,
    timeLimits: [null, config.timeLimitS ?? null],
    broker: brokerAddress(config.amqpUrls[0]),
    shutdown: parts.shutdown,
  };
}
