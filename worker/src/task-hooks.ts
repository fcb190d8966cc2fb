/**
 * What the task runner tells the rest of the worker about a task's progress, at a few fixed
 * points (received, started, finished). Implementations must return at once and never throw:
 * they are observers (events, for now), never part of the task's fate.
 */

/** The task a hook is about. */
export interface TaskInfo {
  id: string;
  name: string;
  queue: string;
  retries: number;
  args: unknown[];
  kwargs: Record<string, unknown>;
  rootId: string | null;
  parentId: string | null;
  eta: string | null;
  expires: string | null;
}

export interface TaskHooks {
  /** The message was decoded (before any check of name or arguments). */
  received(task: TaskInfo): void;
  /** The task is about to run. */
  started(task: TaskInfo): void;
  succeeded(task: TaskInfo, result: unknown, runtimeS: number): void;
  /** Recorded as FAILURE: it raised, or could not run (unknown task, invalid arguments). */
  failed(task: TaskInfo, error: { type: string; message: string }, runtimeS: number | undefined): void;
  /** Another attempt was scheduled (used by retries). */
  retried(task: TaskInfo, error: { type: string; message: string }): void;
}

/** Tells every one of `hooks` (the worker's Celery events and its task reports). */
export function allHooks(...hooks: (TaskHooks | undefined)[]): TaskHooks | undefined {
  const present = hooks.filter((h): h is TaskHooks => h !== undefined);
  if (present.length <= 1) return present[0];
  return {
    received: (task) => present.forEach((h) => h.received(task)),
    started: (task) => present.forEach((h) => h.started(task)),
    succeeded: (task, result, runtimeS) => present.forEach((h) => h.succeeded(task, result, runtimeS)),
    failed: (task, error, runtimeS) => present.forEach((h) => h.failed(task, error, runtimeS)),
    retried: (task, error) => present.forEach((h) => h.retried(task, error)),
  };
}
