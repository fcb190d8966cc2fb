/**
 * Watches the event exchange (`celeryev`) the way `celery events` does: the gateway binds a
 * queue of its own (server-named, exclusive, auto-delete, bounded) to the exchange and
 * consumes every worker and task event without acks. From them it knows the workers (online
 * or offline, tasks in flight against concurrency, last heartbeat) and counts tasks received
 * and finished per queue for the dashboard's rate charts; every event is also logged
 * (`verbose` for task events, `info` for workers coming and going) — the seeds' pattern of one
 * consumer doing the work while another, bound to the same exchange, reports on it.
 *
 * A worker is offline when it said so (`worker-offline`) or when no heartbeat arrived for two
 * of its heartbeat periods (Celery's expiry window is 200 %). Times are this gateway's
 * receive times, so clock skew between hosts does not matter.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import {
  ManagedChannel,
  applyTopology,
  decodeEvent,
  eventMonitorTopology,
  type Broker,
  type CelerityEvent,
} from '../../shared/src/broker/index.js';
import { type Logger } from '../../shared/src/core/index.js';
import type { GatewayMetrics } from './metrics.js';

type WorkerStatus = 'online' | 'offline';

export interface WorkerView {
  hostname: string;
  status: WorkerStatus;
  /** Tasks running at the last heartbeat. */
  active: number;
  concurrency: number | null;
  queues: string[];
  processed: number;
  /** Seconds between heartbeats, as the worker announced. */
  freq: number;
  pid: number | null;
  software: string | null;
  loadavg: number[];
  /** When this gateway last heard from the worker, ms since the epoch. */
  lastHeartbeat: number;
  /** When the worker came online (as far as this gateway saw). */
  onlineSince: number | null;
  /** The port of its /metrics, /healthz and /readyz, when it announced one (Celerity workers). */
  metricsPort: number | null;
}

export interface WorkerMonitorOptions {
  logger: Logger;
  metrics?: GatewayMetrics;
  /** Workers remembered at most (the oldest offline ones are forgotten first). @default 1000 */
  maxWorkers?: number;
  /** Offline workers are forgotten after this long, in ms. @default 3600000 */
  forgetOfflineMs?: number;
  /** Queues with task counts at most. @default 1000 */
  maxQueues?: number;
}

interface WorkerState extends Omit<WorkerView, 'status'> {
  saidOffline: boolean;
}

export class WorkerMonitor {
  readonly #options: Required<Omit<WorkerMonitorOptions, 'metrics'>> & Pick<WorkerMonitorOptions, 'metrics'>;
  readonly #workers = new Map<string, WorkerState>();
  readonly #counts = new Map<string, { received: number; finished: number }>();
  /** Set once `create` has opened it. */
  #managed: ManagedChannel | undefined;
  #queue: string | undefined;
  #events = 0;

  private constructor(options: WorkerMonitorOptions) {
    this.#options = { maxWorkers: 1000, forgetOfflineMs: 3_600_000, maxQueues: 1000, ...options };
  }

  static async create(broker: Broker, options: WorkerMonitorOptions): Promise<WorkerMonitor> {
    const monitor = new WorkerMonitor(options);
    const managed = await ManagedChannel.open(broker, { name: 'event monitor channel', logger: options.logger });
    monitor.#managed = managed;
    // A new server-named queue on every subscribe: after a reconnect, and after a broker cancel
    // (ManagedChannel's cancel policy declares it again on the same channel).
    await managed.consume((channel) => monitor.#declare(channel), (message) => monitor.#onMessage(message), {
      noAck: true,
      onCancel: () => options.logger.warn('the broker cancelled the event monitor consumer; re-subscribing'),
    });
    if (options.metrics) {
      options.metrics.workerCounts = () => {
        const all = monitor.workers();
        const online = all.filter((w) => w.status === 'online').length;
        return { online, offline: all.length - online };
      };
    }
    return monitor;
  }

  /** celeryev, and a server-named bounded queue bound to every worker and task event. */
  async #declare(channel: Channel): Promise<string> {
    const [queue] = await applyTopology(channel, eventMonitorTopology());
    if (queue === undefined) throw new RangeError('the event monitor topology declares no queue');
    this.#queue = queue;
    return queue;
  }

  /** The server-named queue the monitor consumes now; undefined while it is not subscribed. */
  get queue(): string | undefined {
    return this.#managed?.consuming ? this.#queue : undefined;
  }

  /** Events received since start (for tests and the dashboard). */
  get eventsReceived(): number {
    return this.#events;
  }

  /** Cumulative tasks received and finished on `queue`, from task events. */
  counts(queue: string): { received: number; finished: number } {
    return this.#counts.get(queue) ?? { received: 0, finished: 0 };
  }

  workers(now = Date.now()): WorkerView[] {
    this.#prune(now);
    const out: WorkerView[] = [];
    for (const state of this.#workers.values()) {
      const { saidOffline, ...view } = state;
      const expired = now - state.lastHeartbeat > state.freq * 2 * 1000;
      out.push({ ...view, status: saidOffline || expired ? 'offline' : 'online' });
    }
    return out.sort((a, b) => a.hostname.localeCompare(b.hostname));
  }

  /** Stops consuming events and closes the channel. Safe to call twice. */
  async close(): Promise<void> {
    await this.#managed?.close();
  }

  #onMessage(message: ConsumeMessage): void {
    const event = decodeEvent(message.content);
    if (!event) {
      this.#options.logger.debug('ignoring a message on the event exchange that is not an event', { routingKey: message.fields.routingKey });
      return;
    }
    this.#events++;
    if (event.type.startsWith('worker-')) this.#onWorkerEvent(event);
    else if (event.type.startsWith('task-')) this.#onTaskEvent(event);
  }

  #onWorkerEvent(event: CelerityEvent): void {
    const now = Date.now();
    const known = this.#workers.get(event.hostname);
    const wasOnline = known !== undefined && !known.saidOffline && now - known.lastHeartbeat <= known.freq * 2 * 1000;
    const state: WorkerState = {
      hostname: event.hostname,
      active: numberOr(event.active, known?.active ?? 0),
      concurrency: numberOr(event.concurrency, known?.concurrency ?? null),
      queues: Array.isArray(event.queues) ? event.queues.filter((q): q is string => typeof q === 'string') : (known?.queues ?? []),
      processed: numberOr(event.processed, known?.processed ?? 0),
      freq: numberOr(event.freq, known?.freq ?? 2) || 2,
      pid: numberOr(event.pid, known?.pid ?? null),
      software: typeof event.sw_ident === 'string' ? `${event.sw_ident} ${typeof event.sw_ver === 'string' ? event.sw_ver : ''}`.trim() : (known?.software ?? null),
      loadavg: Array.isArray(event.loadavg) ? event.loadavg.filter((n): n is number => typeof n === 'number') : (known?.loadavg ?? []),
      lastHeartbeat: now,
      onlineSince: wasOnline ? (known?.onlineSince ?? now) : now,
      metricsPort: numberOr(event.metrics_port, known?.metricsPort ?? null),
      saidOffline: event.type === 'worker-offline',
    };
    if (!known && this.#workers.size >= this.#options.maxWorkers) this.#prune(now, true);
    this.#workers.set(event.hostname, state);
    if (event.type === 'worker-offline') {
      this.#options.logger.info('worker offline', { worker: event.hostname, processed: state.processed });
    } else if (!wasOnline) {
      this.#options.logger.info('worker online', { worker: event.hostname, queues: state.queues, concurrency: state.concurrency });
    }
  }

  #onTaskEvent(event: CelerityEvent): void {
    const queue = typeof event.queue === 'string' ? event.queue : undefined;
    if (queue && (this.#counts.has(queue) || this.#counts.size < this.#options.maxQueues)) {
      const counts = this.#counts.get(queue) ?? { received: 0, finished: 0 };
      if (event.type === 'task-received') counts.received++;
      else if (event.type === 'task-succeeded' || event.type === 'task-failed') counts.finished++;
      this.#counts.set(queue, counts);
    }
    if (this.#options.logger.isLevelEnabled('verbose')) {
      this.#options.logger.verbose('task event', {
        event: event.type,
        taskId: event.uuid,
        task: event.name,
        queue,
        worker: event.hostname,
        ...(typeof event.runtime === 'number' ? { durationMs: Math.round(event.runtime * 1000) } : {}),
      });
    }
  }

  /** Forgets long-offline workers; with `force`, also the longest-silent one to make room. */
  #prune(now: number, force = false): void {
    let oldest: WorkerState | undefined;
    for (const [hostname, state] of this.#workers) {
      const silentMs = now - state.lastHeartbeat;
      if ((state.saidOffline || silentMs > state.freq * 2000) && silentMs > this.#options.forgetOfflineMs) this.#workers.delete(hostname);
      else if (!oldest || state.lastHeartbeat < oldest.lastHeartbeat) oldest = state;
    }
    if (force && oldest && this.#workers.size >= this.#options.maxWorkers) this.#workers.delete(oldest.hostname);
  }
}

function numberOr<T>(value: unknown, fallback: T): number | T {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}
