/**
 * Result modes: how much of a task's life the store keeps (Celery's `ignore_result` and BullMQ's
 * `removeOnComplete`, per task and per submit). One home for the names, the header that carries
 * a submit's choice to the worker, and the rule that picks the mode of one message.
 *
 * - `full` (the default): the PENDING row of a 202, the worker's claim (STARTED with its lease)
 *   before the task runs, and the final row.
 * - `final`: only the final row. No PENDING row and no claim on a first delivery; a copy seen
 *   before (redelivered, re-published) still claims, so a task already final is still answered
 *   from the store and not run again.
 * - `none`: no row at all. The reply still reaches a `?wait=` or `result()`, and metrics count it.
 */

export const RESULT_MODES = ['full', 'final', 'none'] as const;

export type ResultMode = (typeof RESULT_MODES)[number];

/** Header carrying a submit's result mode to the worker (absent: the worker's task definition decides). */
export const RESULT_MODE_HEADER = 'x-celerity-result';

export function isResultMode(value: unknown): value is ResultMode {
  return typeof value === 'string' && (RESULT_MODES as readonly string[]).includes(value);
}

/**
 * The mode of one message: its header when it carries a valid one, else the task's own mode,
 * else `full`. A header that is not a mode counts as absent (a foreign client's typo keeps rows).
 */
export function resultModeOf(headers: Record<string, unknown> | undefined, taskMode: ResultMode | undefined): ResultMode {
  const sent = headers?.[RESULT_MODE_HEADER];
  return isResultMode(sent) ? sent : (taskMode ?? 'full');
}
