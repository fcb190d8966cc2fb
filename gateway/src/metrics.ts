/** The gateway's Prometheus metrics (names are part of the public contract). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import {
  LATENCY_BUCKETS,
  WAIT_BUCKETS,
  tasksOf,
  type KnownTasks,
} from '../../shared/src/core/index.js';

export class GatewayMetrics {
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly tasksSubmitted: Counter<'task' | 'queue'>;
  readonly tasksDeduplicated: Counter<'task' | 'mode'>;
  readonly rpcDuration: Histogram<'task'>;
  readonly rpcInFlight: Gauge;
  readonly publishConfirmDuration: Histogram;
  readonly queueMessages: Gauge<'queue'>;
  readonly queueConsumers: Gauge<'queue'>;
  readonly deadLetterMessages: Gauge<'queue'>;
  readonly workers: Gauge<'status'>;
  readonly ledgerEntries: Gauge;
  readonly ledgerBytes: Gauge;
  /** Set by the worker monitor: workers by status, read when Prometheus scrapes. */
  workerCounts: (() => { online: number; offline: number }) | undefined;
  /** Set by the gateway: the task ledger's size, read when Prometheus scrapes. */
  ledgerSize: (() => { entries: number; bytes: number }) | undefined;

  constructor(readonly registry: Registry) {
    this.httpDuration = new Histogram({
      name: 'celerity_http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      // A request may hold for a task (?wait=) as long as the largest wait allowed.
      buckets: WAIT_BUCKETS,
      registers: [registry],
    });
    this.tasksSubmitted = new Counter({
      name: 'celerity_tasks_submitted_total',
      help: 'Tasks published and confirmed by the broker.',
      labelNames: ['task', 'queue'],
      registers: [registry],
    });
    this.tasksDeduplicated = new Counter({
      name: 'celerity_tasks_deduplicated_total',
      help: 'Submits decided by options.dedupe against an earlier task of their key: answered with it (singleton, throttle), or replacing it (debounce).',
      labelNames: ['task', 'mode'],
      registers: [registry],
    });
    this.rpcDuration = new Histogram({
      name: 'celerity_task_rpc_duration_seconds',
      help: 'Submit-to-reply time of ?wait= requests that got their result.',
      labelNames: ['task'],
      buckets: WAIT_BUCKETS,
      registers: [registry],
    });
    this.rpcInFlight = new Gauge({
      name: 'celerity_rpc_in_flight',
      help: 'Requests currently waiting for a task to finish (?wait=).',
      registers: [registry],
    });
    this.publishConfirmDuration = new Histogram({
      name: 'celerity_publish_confirm_duration_seconds',
      help: 'Time from publishing a task to the broker confirming it.',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.queueMessages = new Gauge({
      name: 'celerity_queue_messages',
      help: 'Messages ready in a task queue, sampled from the broker with a passive declare (no management plugin).',
      labelNames: ['queue'],
      registers: [registry],
    });
    this.queueConsumers = new Gauge({
      name: 'celerity_queue_consumers',
      help: 'Consumers subscribed to a task queue, sampled with the same passive declare.',
      labelNames: ['queue'],
      registers: [registry],
    });
    this.deadLetterMessages = new Gauge({
      name: 'celerity_dead_letter_messages',
      help: 'Messages in the dead-letter queue (<queue>.dead) of a task queue, by the task queue; 0 while it does not exist. Sampled with the task queue.',
      labelNames: ['queue'],
      registers: [registry],
    });
    this.workers = new Gauge({
      name: 'celerity_workers',
      help: 'Workers this gateway has heard from on the event exchange, by status (online, offline).',
      labelNames: ['status'],
      registers: [registry],
      collect: () => {
        const counts = this.workerCounts?.();
        if (!counts) return;
        this.workers.set({ status: 'online' }, counts.online);
        this.workers.set({ status: 'offline' }, counts.offline);
      },
    });
    this.ledgerEntries = new Gauge({
      name: 'celerity_ledger_entries',
      help: 'Tasks held in the task ledger (waited on, or with a final reply ahead of the store).',
      registers: [registry],
      collect: () => {
        const size = this.ledgerSize?.();
        if (size) this.ledgerEntries.set(size.entries);
      },
    });
    this.ledgerBytes = new Gauge({
      name: 'celerity_ledger_bytes',
      help: 'Estimated bytes the task ledger holds (arguments, results and errors as JSON, plus a fixed overhead per entry); bounded by its maximum.',
      registers: [registry],
      collect: () => {
        const size = this.ledgerSize?.();
        if (size) this.ledgerBytes.set(size.bytes);
      },
    });
  }

  /**
   * Gives the submit counter a series at 0 for each task on its default queue, so `rate()`
   * reads 0, not nothing, before the first submit (and `increase()` counts that one).
   */
  startAtZero(catalogue: KnownTasks): void {
    for (const task of tasksOf(catalogue)) this.tasksSubmitted.inc({ task: task.name, queue: task.queue }, 0);
  }
}
