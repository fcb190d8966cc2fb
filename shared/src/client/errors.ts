/**
 * Errors of the Node client that are about a task's outcome, not about a request: each has a
 * stable `code` (checked by code, never by message) and keeps the task id.
 */
import type { TaskError } from '../core/index.js';

/**
 * The task ended `FAILURE` (or `REVOKED`): `result()` rejects with this. `type` and
 * `taskMessage` are the task's own error (`error.type`, `error.message` in the task
 * representation); `message` includes both.
 */
export class TaskFailedError extends Error {
  override readonly name = 'TaskFailedError';
  readonly code = 'TASK_FAILED';
  /** The task's error type, e.g. `Error`, `PermanentError`, `TimeLimitExceeded`, `ValueError` (Python). */
  readonly type: string;
  /** The task's error message, as the task raised it. */
  readonly taskMessage: string;

  constructor(
    readonly taskId: string,
    /** `FAILURE`, or `REVOKED` for a task that was revoked or expired. */
    readonly state: 'FAILURE' | 'REVOKED',
    error: TaskError | null | undefined,
  ) {
    const type = error?.type ?? (state === 'REVOKED' ? 'TaskRevokedError' : 'Error');
    const taskMessage = error?.message ?? '';
    super(`Task ${taskId} ${state === 'REVOKED' ? 'was revoked' : 'failed'}: ${type}${taskMessage ? `: ${taskMessage}` : ''}`);
    this.type = type;
    this.taskMessage = taskMessage;
  }
}

/** `result({ timeoutMs })` ran out of time before the task finished; the task may still finish later. */
export class TaskTimeoutError extends Error {
  override readonly name = 'TaskTimeoutError';
  readonly code = 'RESULT_TIMEOUT';

  constructor(
    readonly taskId: string,
    /** The wait that passed, in ms. */
    readonly timeoutMs: number,
  ) {
    super(`Task ${taskId} did not finish within ${timeoutMs} ms`);
  }
}

/** What happened to one item of `submitMany`, in order. */
export interface SubmitManyOutcome {
  id: string;
  name: string;
  /** True when the broker confirmed it: it will run. */
  published: boolean;
  error?: unknown;
}

/**
 * Some items of `submitMany` were published (they will run) and others were not: `outcomes`
 * says which, so the caller resubmits only the failed ones. `code` is the first failure's.
 */
export class SubmitManyError extends Error {
  override readonly name = 'SubmitManyError';

  constructor(
    readonly code: string,
    message: string,
    readonly outcomes: readonly SubmitManyOutcome[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
