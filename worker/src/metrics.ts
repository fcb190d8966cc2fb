/** The worker's Prometheus metrics (names are part of the public contract). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from '../../shared/src/index.js';

export type Outcome = 'success' | 'failure' | 'retry' | 'rejected';

export class WorkerMetrics {
  readonly tasks: Counter<'task' | 'queue' | 'outcome'>;
  readonly duration: Histogram<'task' | 'queue'>;
  readonly inFlight: Gauge<'queue'>;
  readonly concurrency: Gauge<'queue'>;
  readonly queueWait: Histogram<'task' | 'queue'>;
  readonly eventsDropped: Counter<'reason'>;
  readonly consuming: Gauge;
  #isConsuming: () => boolean = () => false;

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
    this.queueWait = new Histogram({
      name: 'celerity_worker_task_queue_wait_seconds',
      help: 'Time a task waited in the broker, from publish (or eta) to the worker starting it; messages without a publish time are not observed.',
      labelNames: ['task', 'queue'],
      buckets: QUEUE_WAIT_BUCKETS,
      registers: [registry],
    });
    const isConsuming = (): boolean => this.#isConsuming();
    this.consuming = new Gauge({
      name: 'celerity_worker_consuming',
      help: '1 while the worker is subscribed to its queues, 0 while it is not (channel lost and not reopened yet, draining).',
      registers: [registry],
      collect() {
        this.set(isConsuming() ? 1 : 0);
      },
    });
    this.eventsDropped = new Counter({
      name: 'celerity_worker_events_dropped_total',
      help: 'Worker/task events not published (no channel, or the channel pushed back); events are advisory.',
      labelNames: ['reason'],
      registers: [registry],
    });
  }

  /** Where celerity_worker_consuming reads its value when scraped. */
  watchConsuming(probe: () => boolean): void {
    this.#isConsuming = probe;
  }
}

/** Queue waits run from milliseconds (idle workers) to hours (a backlog). */
const QUEUE_WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
