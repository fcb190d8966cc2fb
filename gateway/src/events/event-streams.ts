/**
 * The gateway's open event streams: opens each one on the task feed and the task ledger, sends
 * every stream's heartbeat from one timer, counts them for /metrics, and ends them all when the
 * gateway drains (their clients resume elsewhere with `Last-Event-ID`).
 */
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger, TaskEvent, TaskRecord } from '../../../shared/src/core/index.js';
import type { ClientCore } from '../../../shared/src/submit/index.js';
import { EventStream, type Cursor, type StreamEnd } from './event-stream.js';
import type { TaskFeed } from './task-feed.js';

export interface EventStreamsOptions {
  feed: Pick<TaskFeed, 'subscribe'>;
  /** The task ledger: its replies and PostgreSQL's notifications tell a stream when its task finished. */
  ledger: Pick<ClientCore['ledger'], 'subscribe'>;
  readTask: (id: string) => Promise<TaskRecord | undefined>;
  readEvents: (id: string, after: number, limit: number) => Promise<TaskEvent[]>;
  logger: Logger;
  registry: Registry;
  /** Time between heartbeat comments, in ms. @default 15000 */
  heartbeatMs?: number;
  /** Bytes a stream may hold unsent before its client is dropped as too slow. @default 262144 (256 KiB) */
  maxBufferBytes?: number;
}

/** Heartbeats written between two turns of the event loop. */
const HEARTBEAT_SLICE = 500;

export class EventStreams {
  readonly #options: EventStreamsOptions;
  readonly #open = new Set<EventStream>();
  readonly #ended: Counter<'reason'>;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: EventStreamsOptions) {
    this.#options = options;
    const open = this.#open;
    new Gauge({
      name: 'celerity_event_streams_open',
      help: 'Task event streams (GET /api/v1/tasks/{id}/events) open on this gateway',
      registers: [options.registry],
      collect() {
        this.set(open.size);
      },
    });
    this.#ended = new Counter({
      name: 'celerity_event_streams_ended_total',
      help: 'Task event streams ended, by reason: final (the task finished), client-gone, slow-consumer (dropped: its buffer filled), shutdown, error',
      labelNames: ['reason'],
      registers: [options.registry],
    });
    // Series at 0 from start-up, as every counter's.
    for (const reason of ['final', 'client-gone', 'slow-consumer', 'shutdown', 'error']) this.#ended.inc({ reason }, 0);
  }

  get size(): number {
    return this.#open.size;
  }

  /** Streams task `task` on `res`, from `cursor` when resumed. */
  open(task: TaskRecord, res: ServerResponse, cursor: Cursor | undefined): void {
    const { feed, ledger, readTask, readEvents, logger, maxBufferBytes = 256 * 1024 } = this.#options;
    let unsubscribe: (() => void)[] = [];
    const stream = new EventStream(task.id, res, cursor, {
      readTask,
      readEvents,
      logger,
      maxBufferBytes,
      onEnd: (reason: StreamEnd) => {
        this.#open.delete(stream);
        for (const stop of unsubscribe) stop();
        unsubscribe = [];
        this.#ended.inc({ reason });
        if (this.#open.size === 0) this.#stopHeartbeat();
      },
    });
    this.#open.add(stream);
    res.once('close', () => stream.end('client-gone'));
    unsubscribe = [
      feed.subscribe(task.id, (message) => stream.onFeed(message)),
      ledger.subscribe(task.id, (change) => {
        if (change.state === 'final-heard' || change.state === 'committed') stream.sync();
      }),
    ];
    this.#startHeartbeat();
    stream.start(task, cursor !== undefined);
  }

  /** Ends every stream (the gateway drains). */
  closeAll(): void {
    for (const stream of [...this.#open]) stream.end('shutdown');
    this.#stopHeartbeat();
  }

  #startHeartbeat(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#heartbeats(), this.#options.heartbeatMs ?? 15_000);
    this.#timer.unref();
  }

  /** One heartbeat per stream, a slice at a time: 10,000 writes in one go would hold the event loop for tens of ms. */
  async #heartbeats(): Promise<void> {
    let written = 0;
    for (const stream of [...this.#open]) {
      stream.heartbeat();
      if (++written % HEARTBEAT_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  #stopHeartbeat(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
