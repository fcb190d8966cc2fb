/**
 * What a running task reports besides its result: progress (`ctx.progress`), output chunks
 * (`ctx.stream`) and its `ctx.logger` lines. The worker stores them in the task's event log
 * (migration 10) and publishes each on the broker; gateways stream them as Server-Sent Events
 * (docs/events.md). The bounds live here, once, for the worker that enforces them and the docs
 * and tests that state them.
 */
import { jsonObjectOf } from './json-body.js';

/** Progress reports of one task are sent at most this often (10 per second); the last one of a burst is sent at the end of the interval. */
export const PROGRESS_INTERVAL_MS = 100;

/** Longest progress message, in characters; a longer one is cut to this length (with a warning in the task's log). */
export const MAX_PROGRESS_MESSAGE_CHARS = 500;

/** Largest output chunk (`ctx.stream`), in characters; a larger one is refused (with an error in the task's log). */
export const MAX_OUTPUT_CHUNK_CHARS = 16_384;

/** Longest stored log line, in characters; a longer one is cut. */
export const MAX_LOG_LINE_CHARS = 2_000;

/**
 * Entries kept in one task's event log, over all its attempts (progress, output and log lines
 * together). The entry that reaches the bound says so; later reports are dropped (the task's
 * latest progress is still updated).
 */
export const MAX_TASK_EVENTS = 1_000;

/** The kinds of entry in a task's event log. */
export type TaskEventKind = 'progress' | 'output' | 'log';

/** The data of each kind, as stored and as streamed. */
export interface ProgressData {
  fraction: number;
  message?: string;
}
interface OutputData {
  chunk: string;
}
interface LogData {
  level: string;
  message: string;
}

/** One entry of a task's event log; `seq` is its id in the store, increasing within a task. */
export type TaskEvent =
  | { seq: number; kind: 'progress'; data: ProgressData; at: string }
  | { seq: number; kind: 'output'; data: OutputData; at: string }
  | { seq: number; kind: 'log'; data: LogData; at: string };

/**
 * What the worker publishes on the task-events exchange: an entry of the log (with `prev`, the
 * seq of the task's entry before it, 0 for none, so a listener can tell a gap), or a hint that
 * the task's state changed (the store holds the state; listeners read it).
 */
export type TaskFeedMessage = { taskId: string; prev: number; event: TaskEvent } | { taskId: string; state: string; retries: number };

/** Reads a feed message body; `undefined` for anything else. */
export function decodeFeedMessage(content: Buffer): TaskFeedMessage | undefined {
  const message = jsonObjectOf(content);
  if (!message) return undefined;
  if (typeof message.taskId !== 'string') return undefined;
  if (typeof message.state === 'string' && typeof message.retries === 'number') return message as TaskFeedMessage;
  const event = message.event as Record<string, unknown> | undefined;
  if (typeof message.prev !== 'number' || typeof event?.seq !== 'number' || typeof event.kind !== 'string') return undefined;
  return message as TaskFeedMessage;
}
