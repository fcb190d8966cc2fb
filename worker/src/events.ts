/**
 * Publishes this worker's events on Celery's event exchange (`celeryev`, see
 * shared/src/broker/events.ts): `worker-online` when it starts consuming, `worker-heartbeat`
 * every `heartbeatMs` with the tasks in flight and the concurrency, `worker-offline` when it
 * stops, and — when `taskEvents` is on (Celery's `-E`, `WORKER_TASK_EVENTS`) — the task events
 * `task-received`, `task-started`, `task-succeeded`, `task-failed`, `task-retried` through the
 * runner's hooks.
 *
 * Advisory by design: a plain channel (no confirms), nothing awaited, nothing retried. While
 * the connection is down or the channel pushes back, events are dropped and counted
 * (`celerity_worker_events_dropped_total`); a task never waits for, or fails because of, an
 * event.
 */
import { loadavg, release, type } from 'node:os';
import type { Channel } from 'amqplib';
import {
  CONTENT_ENCODING,
  CONTENT_TYPE,
  EVENT_EXCHANGE,
  ManagedChannel,
  declareEventExchange,
  eventRoutingKey,
  utcOffsetHours,
  type Broker,
  type EventType,
  type WorkerEventFields,
} from '../../shared/src/broker/index.js';
import { repr, type Logger } from '../../shared/src/core/index.js';
import type { WorkerMetrics } from './metrics.js';
import type { TaskHooks, TaskInfo } from './task-hooks.js';

export interface WorkerEventsOptions {
  /** The worker's name, Celery's `hostname` field (`celerity@host:pid`). */
  hostname: string;
  queues: string[];
  /** Tasks run at once now (it follows a resize or the autoscaler). */
  concurrency: () => number;
  /** Tasks running now. */
  inFlight: () => number;
  logger: Logger;
  metrics: WorkerMetrics;
  /** Time between heartbeats, in ms. Celery's default is 2 s; a worker counts as gone after 2 missed. @default 2000 */
  heartbeatMs?: number;
  /** Publish task events too (Celery's `-E`); heartbeats and online/offline are always sent. @default false */
  taskEvents?: boolean;
  /** The metrics server's port, announced with each heartbeat (`celerity status` shows it). @default none */
  metricsPort?: () => number | undefined;
}

const SW_VERSION = '0.1.0';

/** The fields of `task-failed` and `task-retried`: Celery's `exception` text, plus the structured error. */
function errorFields(task: TaskInfo, error: { type: string; message: string }): Record<string, unknown> {
  return { uuid: task.id, name: task.name, queue: task.queue, exception: `${error.type}(${repr(error.message)})`, traceback: '', error };
}

export class WorkerEvents implements TaskHooks {
  readonly #options: WorkerEventsOptions & { heartbeatMs: number };
  /** Set once `create` has opened it. */
  #managed: ManagedChannel | undefined;
  /** The channel's write buffer is full: drop events until it drains. */
  #backpressure = false;
  #clock = 0;
  #processed = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  private constructor(options: WorkerEventsOptions) {
    this.#options = { heartbeatMs: 2_000, ...options };
  }

  /** Opens the event channel (re-opened after every reconnect); sends nothing yet. */
  static async create(broker: Broker, options: WorkerEventsOptions): Promise<WorkerEvents> {
    const events = new WorkerEvents(options);
    events.#managed = await ManagedChannel.open(broker, { name: 'event channel', logger: options.logger, setup: (channel) => events.#setup(channel) });
    return events;
  }

  async #setup(channel: Channel): Promise<void> {
    channel.on('drain', () => {
      this.#backpressure = false;
    });
    await declareEventExchange(channel);
    this.#backpressure = false;
    // A reconnect is, for watchers, the worker coming back.
    if (this.#timer) this.#send('worker-online', this.#workerFields(), channel);
  }

  /** Announces the worker and starts the heartbeat. */
  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#send('worker-online', this.#workerFields());
    this.#timer = setInterval(() => this.#send('worker-heartbeat', this.#workerFields()), this.#options.heartbeatMs);
    this.#timer.unref();
  }

  /** Stops the heartbeat, announces `worker-offline` and closes the channel. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    clearInterval(this.#timer);
    this.#send('worker-offline', this.#workerFields());
    this.#stopped = true;
    await this.#managed?.close();
  }

  get processed(): number {
    return this.#processed;
  }

  received(task: TaskInfo): void {
    if (!this.#taskEvents) return;
    this.#send('task-received', {
      uuid: task.id,
      name: task.name,
      args: repr(task.args),
      kwargs: repr(task.kwargs),
      root_id: task.rootId,
      parent_id: task.parentId,
      retries: task.retries,
      eta: task.eta,
      expires: task.expires,
      queue: task.queue,
    });
  }

  started(task: TaskInfo): void {
    if (!this.#taskEvents) return;
    this.#send('task-started', { uuid: task.id, name: task.name, queue: task.queue, retries: task.retries });
  }

  succeeded(task: TaskInfo, result: unknown, runtimeS: number): void {
    // Counted whether or not task events go out: heartbeats carry `processed`.
    this.#processed++;
    if (!this.#taskEvents) return;
    this.#send('task-succeeded', { uuid: task.id, name: task.name, queue: task.queue, result: repr(result), runtime: runtimeS });
  }

  failed(task: TaskInfo, error: { type: string; message: string }, runtimeS: number | undefined): void {
    this.#processed++;
    if (!this.#taskEvents) return;
    this.#send('task-failed', { ...errorFields(task, error), ...(runtimeS === undefined ? {} : { runtime: runtimeS }) });
  }

  retried(task: TaskInfo, error: { type: string; message: string }): void {
    if (!this.#taskEvents) return;
    this.#send('task-retried', { ...errorFields(task, error), retries: task.retries });
  }

  /** Task events go out only when asked for (Celery's `-E`); heartbeats always do. */
  get #taskEvents(): boolean {
    return this.#options.taskEvents === true;
  }

  #workerFields(): WorkerEventFields {
    const metricsPort = this.#options.metricsPort?.();
    return {
      ...(metricsPort !== undefined ? { metrics_port: metricsPort } : {}),
      freq: this.#options.heartbeatMs / 1000,
      active: this.#options.inFlight(),
      processed: this.#processed,
      loadavg: loadavg().map((n) => Math.round(n * 100) / 100),
      sw_ident: 'celerity',
      sw_ver: SW_VERSION,
      sw_sys: `${type()} ${release()}`,
      concurrency: this.#options.concurrency(),
      queues: this.#options.queues,
    };
  }

  /** `channel`: the one being set up, before it becomes the managed channel. */
  #send(eventType: EventType, fields: object, channel = this.#managed?.channel): void {
    if (this.#stopped) return;
    if (!channel) {
      this.#options.metrics.eventsDropped.inc({ reason: 'disconnected' });
      return;
    }
    if (this.#backpressure) {
      this.#options.metrics.eventsDropped.inc({ reason: 'backpressure' });
      return;
    }
    const event = {
      ...fields,
      type: eventType,
      hostname: this.#options.hostname,
      timestamp: Date.now() / 1000,
      utcoffset: utcOffsetHours(),
      pid: process.pid,
      clock: ++this.#clock,
    };
    try {
      const accepted = channel.publish(EVENT_EXCHANGE, eventRoutingKey(eventType), Buffer.from(JSON.stringify(event), 'utf8'), {
        contentType: CONTENT_TYPE,
        contentEncoding: CONTENT_ENCODING,
        deliveryMode: 1,
        headers: { hostname: this.#options.hostname },
      });
      // amqplib queued this one; until 'drain', further events would only grow the buffer.
      if (!accepted) this.#backpressure = true;
    } catch (err) {
      this.#options.metrics.eventsDropped.inc({ reason: 'error' });
      this.#options.logger.debug('could not publish an event', { type: eventType, err });
    }
  }
}
