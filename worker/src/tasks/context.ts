/** What a task implementation receives besides its arguments. */
import type { Logger } from '../../../shared/src/index.js';

export interface TaskContext {
  id: string;
  name: string;
  queue: string;
  /** How many times this task has been retried before this attempt. */
  retries: number;
  /** Fires when the task should stop (worker forced shutdown; time limits later). */
  signal: AbortSignal;
  /** A logger whose lines carry the task's id, name and queue. */
  logger: Logger;
}

/** An in-process task: async, must not block the event loop. */
export type TaskFn = (args: unknown[], kwargs: Record<string, unknown>, ctx: TaskContext) => Promise<unknown>;

/** How the worker runs a task: in-process, or in the thread pool by name. */
export type Implementation = { kind: 'async'; run: TaskFn } | { kind: 'cpu' };
