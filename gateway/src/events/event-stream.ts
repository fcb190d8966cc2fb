/**
 * One Server-Sent Events stream of one task (`GET /api/v1/tasks/{id}/events`, docs/events.md).
 *
 * The store is the truth: the task's row says its state, its event log (migration 10) holds
 * every report in sequence. What the gateway hears (the task-events feed, the task ledger's
 * replies and PostgreSQL's notifications) only says when to look, except a feed entry that
 * directly follows the last one sent, which is sent as it came. Each event's id is the cursor
 * after it, `<seq>-<order>`: the last log entry sent and the order (`stateOrder`) of the last
 * state sent, so a stream resumed with `Last-Event-ID` sends exactly what came after.
 */
import type { ServerResponse } from 'node:http';
import {
  isFinalState,
  stateOrder,
  toRepresentation,
  type Logger,
  type TaskEvent,
  type TaskFeedMessage,
  type TaskRecord,
} from '../../../shared/src/core/index.js';

/** Where a stream stands: the last log entry and the order of the last state it sent. */
export interface Cursor {
  seq: number;
  order: number;
}

/** Log entries read from the store per query while catching up. */
const READ_PAGE = 500;

export interface EventStreamDeps {
  /** The task as this gateway knows it (the ledger's read: the row, or the reply over it). */
  readTask: (id: string) => Promise<TaskRecord | undefined>;
  /** The task's log entries after `after`, oldest first. */
  readEvents: (id: string, after: number, limit: number) => Promise<TaskEvent[]>;
  logger: Logger;
  /** Bytes the response may hold unsent before the client counts as too slow and is dropped. */
  maxBufferBytes: number;
  /** Told once when the stream ends, with why. */
  onEnd: (reason: StreamEnd) => void;
}

/** Why a stream ended: the task's final state was sent, the client left or read too slowly, the gateway stops, or an error. */
export type StreamEnd = 'final' | 'client-gone' | 'slow-consumer' | 'shutdown' | 'error';

function formatCursor(cursor: Cursor): string {
  return `${cursor.seq}-${cursor.order}`;
}

/** Reads a `Last-Event-ID`; `undefined` when it is not one. */
export function parseCursor(value: string): Cursor | undefined {
  const match = /^(\d{1,16})-(\d{1,16})$/.exec(value.trim());
  if (!match) return undefined;
  const seq = Number(match[1]);
  const order = Number(match[2]);
  return Number.isSafeInteger(seq) && Number.isSafeInteger(order) ? { seq, order } : undefined;
}

export class EventStream {
  readonly #id: string;
  readonly #res: ServerResponse;
  readonly #deps: EventStreamDeps;
  #cursor: Cursor;
  #syncing: Promise<void> | undefined;
  #again = false;
  #ended = false;

  constructor(id: string, res: ServerResponse, cursor: Cursor | undefined, deps: EventStreamDeps) {
    this.#id = id;
    this.#res = res;
    this.#deps = deps;
    this.#cursor = cursor ?? { seq: 0, order: -1 };
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Sends the headers and, for a new stream, the task's current state; then what it missed. */
  start(task: TaskRecord, resumed: boolean): void {
    this.#res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx buffers responses unless told not to.
      'X-Accel-Buffering': 'no',
    });
    this.#write('retry: 1000\n\n');
    // A new stream starts with the state as it is; a finished task's state comes after its log.
    if (!resumed && !isFinalState(task.state)) this.#sendState(task);
    // Nothing has run yet (reports come after STARTED): the feed or the ledger says when to look.
    if (!resumed && (task.state === 'PENDING' || task.state === 'RECEIVED')) return;
    this.#syncFrom(task);
  }

  /** Catches up from the store: log entries after the cursor, then the state if it moved on. */
  sync(): void {
    this.#syncFrom(undefined);
  }

  /** `known`: the task as just read (saves reading it again). */
  #syncFrom(known: TaskRecord | undefined): void {
    if (this.#ended) return;
    if (this.#syncing) {
      this.#again = true;
      return;
    }
    this.#syncing = this.#catchUp(known)
      .catch((err: unknown) => {
        this.#deps.logger.warn('an event stream could not read its task; it ends (the client resumes with Last-Event-ID)', { taskId: this.#id, err });
        this.end('error');
      })
      .finally(() => {
        this.#syncing = undefined;
        if (this.#again && !this.#ended) {
          this.#again = false;
          this.sync();
        }
      });
  }

  /** A message from the task-events feed (`undefined`: the feed reconnected). */
  onFeed(message: TaskFeedMessage | undefined): void {
    if (this.#ended) return;
    if (!message || !('event' in message) || this.#syncing) {
      this.sync();
      return;
    }
    const { event, prev } = message;
    if (event.seq <= this.#cursor.seq) return; // sent already (a catch-up read it first)
    if (prev === this.#cursor.seq) this.#sendEvent(event);
    else this.sync(); // something came before it that we have not seen
  }

  /** A comment line that keeps proxies from closing an idle stream. */
  heartbeat(): void {
    if (!this.#ended) this.#write(': heartbeat\n\n');
  }

  end(reason: StreamEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    if (reason === 'slow-consumer' || reason === 'error') this.#res.destroy();
    else this.#res.end();
    this.#deps.onEnd(reason);
  }

  async #catchUp(known: TaskRecord | undefined): Promise<void> {
    // The row first: when it is final, the log read after it is complete (the worker stores a
    // run's reports before its end).
    const task = known ?? (await this.#deps.readTask(this.#id));
    for (;;) {
      const events = await this.#deps.readEvents(this.#id, this.#cursor.seq, READ_PAGE);
      for (const event of events) if (!this.#ended && event.seq > this.#cursor.seq) this.#sendEvent(event);
      if (events.length < READ_PAGE || this.#ended) break;
    }
    if (!task || this.#ended) return;
    this.#sendState(task);
    if (isFinalState(task.state)) this.end('final');
  }

  #sendState(task: TaskRecord): void {
    const order = stateOrder(task.state, task.retries);
    if (order <= this.#cursor.order) return;
    this.#cursor = { ...this.#cursor, order };
    this.#send('state', toRepresentation(task));
  }

  #sendEvent(event: TaskEvent): void {
    this.#cursor = { ...this.#cursor, seq: event.seq };
    this.#send(event.kind, { ...event.data, at: event.at });
  }

  #send(kind: string, data: unknown): void {
    this.#write(`id: ${formatCursor(this.#cursor)}\nevent: ${kind}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  #write(text: string): void {
    if (this.#ended) return;
    if (this.#res.writableLength > this.#deps.maxBufferBytes) {
      this.#deps.logger.warn('an event stream\'s client reads too slowly; it is dropped', { taskId: this.#id, bufferedBytes: this.#res.writableLength });
      this.end('slow-consumer');
      return;
    }
    this.#res.write(text);
  }
}
