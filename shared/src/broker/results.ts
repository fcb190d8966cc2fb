/**
 * Celery protocol v2 results, as the `rpc://` result backend sends them to a task's `reply_to`:
 * the body Celerity workers reply with (readable by Celery clients, whose `AsyncResult.get()`
 * re-raises a failure as a Python exception) and the decoding of replies from Celerity's and
 * Celery's workers alike. Task messages themselves are in protocol.ts.
 */
import { isTaskState, jsonObjectOf, type TaskError, type TaskState } from '../core/index.js';

/** A task's outcome as the `rpc://` backend sends it on `reply_to`. */
export interface TaskOutcome {
  id: string;
  state: TaskState;
  result?: unknown;
  error?: TaskError | null;
  traceback?: string | null;
  finishedAt: Date;
  /** Celerity's additions; Celery ignores keys it does not know. */
  worker?: string | null;
  /**
   * Decoded replies only: the sender (a Celerity worker) records this outcome in the store
   * itself, just after replying, so whoever receives it must not write it.
   */
  senderRecords?: boolean;
  retries?: number;
  /** Starts over the task's life (Celerity's workers only). */
  attempts?: number;
  startedAt?: Date | null;
}

/** Celery's serialised exception: what `AsyncResult.get()` re-raises on the Python side. */
export interface CeleryException {
  exc_type: string;
  exc_message: unknown[];
  exc_module: string;
}

/**
 * Python's built-in exception classes (all subclasses of `Exception`): a Celery client re-raises
 * these as themselves when `exc_module` is `builtins`. Any other type name is sent with module
 * `celerity`, which Python does not have, so Celery re-creates it as a subclass of `Exception`
 * of that name (celery/backends/base.py, exception_to_python) with the original message.
 * BaseException-only classes (SystemExit, KeyboardInterrupt) are left out on purpose: raising
 * them in a client would stop it.
 */
const PYTHON_BUILTIN_EXCEPTIONS: ReadonlySet<string> = new Set([
  'Exception', 'ArithmeticError', 'AssertionError', 'AttributeError', 'ConnectionError', 'EOFError',
  'FileNotFoundError', 'IndexError', 'KeyError', 'LookupError', 'MemoryError', 'NotImplementedError',
  'OSError', 'OverflowError', 'PermissionError', 'RecursionError', 'RuntimeError', 'TimeoutError',
  'TypeError', 'UnicodeError', 'ValueError', 'ZeroDivisionError',
]);

/** Celery's serialised exception for a Celerity error, re-raisable by a Python client. */
export function toCeleryException(state: TaskState, error: TaskError | null | undefined): CeleryException {
  if (state === 'REVOKED') {
    // Celery's own class, so `AsyncResult.get()` raises celery.exceptions.TaskRevokedError.
    return { exc_type: 'TaskRevokedError', exc_message: [error?.message ?? 'revoked'], exc_module: 'celery.exceptions' };
  }
  const type = error?.type ?? 'Error';
  return { exc_type: type, exc_message: [error?.message ?? ''], exc_module: PYTHON_BUILTIN_EXCEPTIONS.has(type) ? 'builtins' : 'celerity' };
}

/**
 * Written by Celerity workers only: "the sender records this outcome in the result store" (it
 * replies first and commits just after). A gateway records replies without it (from Python
 * Celery workers) and skips the rest. The name is from when workers replied after their commit;
 * it is kept so that gateways and workers of either version understand each other mid-upgrade.
 */
export const SENDER_RECORDS_KEY = 'celerity_recorded';

export function encodeResultBody(outcome: TaskOutcome): Buffer {
  const result: unknown =
    outcome.state === 'FAILURE' || outcome.state === 'REVOKED' ? toCeleryException(outcome.state, outcome.error) : (outcome.result ?? null);
  return Buffer.from(
    JSON.stringify({
      task_id: outcome.id,
      status: outcome.state,
      result,
      traceback: outcome.traceback ?? null,
      children: [],
      date_done: outcome.finishedAt.toISOString(),
      worker: outcome.worker ?? null,
      retries: outcome.retries ?? 0,
      date_started: outcome.startedAt ? outcome.startedAt.toISOString() : null,
      ...(outcome.attempts !== undefined ? { attempts: outcome.attempts } : {}),
      [SENDER_RECORDS_KEY]: true,
    }),
    'utf8',
  );
}

function parseDate(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function isCeleryException(value: unknown): value is CeleryException {
  return typeof value === 'object' && value !== null && typeof (value as { exc_type?: unknown }).exc_type === 'string';
}

/** Reads a reply from our workers or Celery's; `undefined` when it is not a result body. */
export function decodeResultBody(content: Buffer): TaskOutcome | undefined {
  const b = jsonObjectOf(content);
  if (!b) return undefined;
  if (typeof b.task_id !== 'string' || !isTaskState(b.status)) return undefined;
  const finishedAt = parseDate(b.date_done) ?? new Date();
  const outcome: TaskOutcome = {
    id: b.task_id,
    state: b.status,
    traceback: typeof b.traceback === 'string' ? b.traceback : null,
    finishedAt,
    worker: typeof b.worker === 'string' ? b.worker : null,
    retries: typeof b.retries === 'number' ? b.retries : 0,
    startedAt: parseDate(b.date_started) ?? null,
    senderRecords: b[SENDER_RECORDS_KEY] === true,
    ...(typeof b.attempts === 'number' ? { attempts: b.attempts } : {}),
  };
  if ((b.status === 'FAILURE' || b.status === 'REVOKED') && isCeleryException(b.result)) {
    const message = Array.isArray(b.result.exc_message) ? b.result.exc_message.map(String).join(', ') : String(b.result.exc_message);
    outcome.error = { type: b.result.exc_type, message };
  } else {
    outcome.result = b.result;
  }
  return outcome;
}
