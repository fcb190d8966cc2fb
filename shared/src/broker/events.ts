/**
 * Worker and task events, in Celery's event protocol so that `celery events`, Flower or any
 * Celery event consumer can watch Celerity workers (see celery/events/event.py and
 * dispatcher.py): JSON bodies on the durable topic exchange `celeryev`, routing key = the
 * event type with dashes turned into dots (`worker-heartbeat` → `worker.heartbeat`), header
 * `hostname`, non-persistent delivery. Every event carries Celery's common fields `type`,
 * `hostname`, `timestamp` (seconds since the epoch, float), `utcoffset` (hours, with
 * `time.timezone`'s sign), `pid` and `clock` (a Lamport clock, here a per-process counter).
 *
 * Events are advisory: published without confirms, dropped rather than waited for, and never
 * part of a task's fate. Consumers bind their own queues to the exchange.
 */
import { jsonObjectOf } from '../core/index.js';
export const EVENT_EXCHANGE = 'celeryev';

type WorkerEventType = 'worker-online' | 'worker-heartbeat' | 'worker-offline';
type TaskEventType = 'task-received' | 'task-started' | 'task-succeeded' | 'task-failed' | 'task-retried' | 'task-rejected';
export type EventType = WorkerEventType | TaskEventType;

/** Fields every event has (Celery's dispatcher adds them to each event it sends). */
interface EventEnvelope {
  type: string;
  hostname: string;
  timestamp: number;
  utcoffset: number;
  pid: number;
  clock: number;
}

/** A worker's heartbeat, as Celery's `worker/heartbeat.py` sends it, plus Celerity's fields. */
export interface WorkerEventFields {
  /** Seconds between heartbeats. */
  freq: number;
  /** Tasks running now. */
  active: number;
  /** Tasks finished since the worker started. */
  processed: number;
  loadavg: number[];
  sw_ident: string;
  sw_ver: string;
  sw_sys: string;
  /** Celerity: tasks run at once, and the queues consumed. */
  concurrency: number;
  queues: string[];
  /** Celerity: the port of the worker's /metrics, /healthz and /readyz, when it serves them. */
  metrics_port?: number;
}

export type CelerityEvent = EventEnvelope & Record<string, unknown>;

export function eventRoutingKey(type: string): string {
  return type.replaceAll('-', '.');
}

/** Celery's `utcoffset()`: hours west of UTC are positive, like Python's `time.timezone`. */
export function utcOffsetHours(now = new Date()): number {
  return Math.trunc(now.getTimezoneOffset() / 60);
}

/**
 * Reads an event body; `undefined` for anything that is not a JSON object with a string
 * `type`, `hostname` and numeric `timestamp` (other producers share the exchange).
 */
export function decodeEvent(content: Buffer): CelerityEvent | undefined {
  const event = jsonObjectOf(content);
  if (!event) return undefined;
  if (typeof event.type !== 'string' || typeof event.hostname !== 'string' || typeof event.timestamp !== 'number') return undefined;
  return event as CelerityEvent;
}
