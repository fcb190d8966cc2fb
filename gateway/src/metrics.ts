/** The gateway's Prometheus metrics (names are part of the public contract). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import {
  LATENCY_BUCKETS,
  WAIT_BUCKETS,
  tasksOf,
  type KnownTasks,
  type Logger,
} from '../../shared/src/core/index.js';
import type { FlowView } from '../../shared/src/store/index.js';
import { DEDUPE_MODES } from '../../shared/src/submit/index.js';

/**
 * Keys exported as `celerity_flow_key_tasks` series: the busiest this many (by waiting +
 * running). A bound, so a fleet with a million customers still exports at most 2 × N series.
 */
export const FLOW_KEY_SERIES = 10;
/** Longest key value put in a label; longer ones are cut (the admin route shows them whole). */
const MAX_KEY_LABEL_CHARS = 100;

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
  readonly flowKeyTasks: Gauge<'task' | 'key' | 'state'>;
  readonly flowTasks: Gauge<'state'>;
  /** Set by the worker monitor: workers by status, read when Prometheus scrapes. */
  workerCounts: (() => { online: number; offline: number }) | undefined;
  /** Set by the gateway: the task ledger's size, read when Prometheus scrapes. */
  ledgerSize: (() => { entries: number; bytes: number }) | undefined;
  /** Set by the gateway: reads the busiest keys (FLOW_KEY_SERIES of them) from the store when Prometheus scrapes. */
  flowView: { read: () => Promise<FlowView>; logger: Logger } | undefined;
  /** The read one scrape's two flow gauges share (prom-client collects every metric at once). */
  #flowRead: Promise<FlowView | undefined> | undefined;

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
    this.flowKeyTasks = new Gauge({
      name: 'celerity_flow_key_tasks',
      help: `Tasks of the ${FLOW_KEY_SERIES} busiest flow-control keys (by waiting + running), by task, key and state (waiting: parked for a slot of their key; running: holding one). Read from the store at scrape; a key that leaves the top ${FLOW_KEY_SERIES} leaves the series.`,
      labelNames: ['task', 'key', 'state'],
      registers: [registry],
      collect: async () => {
        const view = await this.#readFlow();
        // Reset first: the series are the current top N only, never every key seen since start.
        this.flowKeyTasks.reset();
        for (const { task, key, waiting, running } of view?.keys ?? []) {
          const label = key.length > MAX_KEY_LABEL_CHARS ? `${key.slice(0, MAX_KEY_LABEL_CHARS - 1)}…` : key;
          this.flowKeyTasks.set({ task, key: label, state: 'waiting' }, waiting);
          this.flowKeyTasks.set({ task, key: label, state: 'running' }, running);
        }
      },
    });
    this.flowTasks = new Gauge({
      name: 'celerity_flow_tasks',
      help: 'Tasks of keyed flow control over every key, by state (waiting for a slot of their key, running in one). Read from the store at scrape.',
      labelNames: ['state'],
      registers: [registry],
      collect: async () => {
        const view = await this.#readFlow();
        this.flowTasks.reset();
        if (!view) return;
        this.flowTasks.set({ state: 'waiting' }, view.totals.waiting);
        this.flowTasks.set({ state: 'running' }, view.totals.running);
      },
    });
  }

  /**
   * The busiest keys for this scrape, one store read for both gauges. A failed read is logged
   * and leaves the gauges empty (no stale counts), rather than failing the whole scrape.
   */
  #readFlow(): Promise<FlowView | undefined> {
    const source = this.flowView;
    if (!source) return Promise.resolve(undefined);
    this.#flowRead ??= source
      .read()
      .catch((err: unknown) => {
        source.logger.warn('could not read the flow-control keys for /metrics', { err });
        return undefined;
      })
      .finally(() => {
        this.#flowRead = undefined;
      });
    return this.#flowRead;
  }

  /**
   * Gives the submit counter a series at 0 for each task on its default queue, so `rate()`
   * reads 0, not nothing, before the first submit (and `increase()` counts that one).
   */
  startAtZero(catalogue: KnownTasks): void {
    for (const task of tasksOf(catalogue)) {
      this.tasksSubmitted.inc({ task: task.name, queue: task.queue }, 0);
      for (const mode of DEDUPE_MODES) this.tasksDeduplicated.inc({ task: task.name, mode }, 0);
    }
  }
}
