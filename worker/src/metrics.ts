/** The worker's Prometheus metrics (names are part of the public contract). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from '../../shared/src/index.js';

export type Outcome = 'success' | 'failure' | 'retry' | 'rejected';

export class WorkerMetrics {
  readonly tasks: Counter<'task' | 'queue' | 'outcome'>;
  readonly duration: Histogram<'task' | 'queue'>;
  readonly inFlight: Gauge<'queue'>;
  readonly concurrency: Gauge<'queue'>;

  constructor(readonly registry: Registry) {
    this.tasks = new Counter({
      name: 'celerity_worker_tasks_total',
      help: 'Tasks this worker finished, by outcome (success, failure, retry, rejected).',
      labelNames: ['task', 'queue', 'outcome'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'celerity_worker_task_duration_seconds',
      help: 'Time a task ran, from start to result recorded.',
      labelNames: ['task', 'queue'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.inFlight = new Gauge({
      name: 'celerity_worker_tasks_in_flight',
      help: 'Tasks received and not yet acknowledged.',
      labelNames: ['queue'],
      registers: [registry],
    });
    this.concurrency = new Gauge({
      name: 'celerity_worker_concurrency',
      help: 'Tasks this worker runs at once (its prefetch), per consumed queue.',
      labelNames: ['queue'],
      registers: [registry],
    });
  }
}
