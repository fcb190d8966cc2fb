/**
 * The catalogue of coded errors. Every error that reaches a caller or crosses a process
 * boundary carries a stable `code`; callers branch on the code, never on the message text.
 */

/** Stable error codes and the HTTP status each maps to when it reaches an HTTP caller. */
export const ERROR_STATUS = {
  MALFORMED_JSON: 400,
  INVALID_REQUEST: 400,
  INVALID_ARGUMENTS: 400,
  INVALID_QUEUE: 400,
  INVALID_WAIT: 400,
  OPTION_NOT_SUPPORTED: 400,
  /** A per-worker task rate limit that is not `N`, `N/s`, `N/m` or `N/h` (Worker.setRateLimit). */
  INVALID_RATE_LIMIT: 400,
  INVALID_OPTIONS: 400,
  INVALID_IDEMPOTENCY_KEY: 400,
  /** `options.dedupe` is malformed (key empty or over 200 characters, unknown mode, windowS missing or out of range) or contradicts other options. */
  INVALID_DEDUPE: 400,
  /** A `Last-Event-ID` (or `?lastEventId=`) that is not an id this gateway's event streams send. */
  INVALID_EVENT_ID: 400,
  /** A value PostgreSQL's jsonb refuses (U+0000, a lone surrogate, too deep) or JSON cannot carry; see jsonb.ts. */
  UNSTORABLE_VALUE: 400,
  /** A schedule's definition is wrong: its every/cron does not parse, a policy is unknown (defineSchedule, the schedules API). */
  INVALID_SCHEDULE: 400,
  UNKNOWN_TASK: 404,
  SCHEDULE_NOT_FOUND: 404,
  /** A schedule of this name exists already (in the app module or stored). */
  SCHEDULE_EXISTS: 409,
  TASK_NOT_FOUND: 404,
  WORKFLOW_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  /** The Idempotency-Key was used within its window for a different submit. */
  IDEMPOTENCY_KEY_REUSED: 409,
  PAYLOAD_TOO_LARGE: 413,
  ARGUMENTS_TOO_LARGE: 413,
  UNAUTHENTICATED: 401,
  INVALID_API_KEY: 401,
  FORBIDDEN: 403,
  CSRF_REJECTED: 403,
  ORIGIN_NOT_ALLOWED: 403,
  /** AUTH_MODE=none and the Host header is not a loopback or allowed name (DNS rebinding). */
  HOST_NOT_ALLOWED: 421,
  RATE_LIMITED: 429,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
  /** PostgreSQL refused a write with an error no retry fixes (shared/src/store/pg-errors.ts). */
  STORE_WRITE_REFUSED: 500,
  /** A task definition is wrong (raised at import time by defineTask, or by the app loader). */
  INVALID_TASK_DEFINITION: 500,
  /** An app module cannot be used: missing, throws on import, no tasks, duplicate names (the loader). */
  INVALID_APP: 500,
  BROKER_UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  QUEUE_UNAVAILABLE: 503,
  /** The queue holds its configured maximum of waiting messages (QUEUE_MAX_LENGTH). */
  QUEUE_FULL: 503,
  /** A worker refused a remote-control command (its `{"error": ...}` reply). */
  CONTROL_REFUSED: 409,
  /** No reply from the worker a remote-control command named, within the timeout (gone or busy). */
  WORKER_NO_REPLY: 504,
} as const;

/** A stable error code: what callers branch on (never the message text). */
export type ErrorCode = keyof typeof ERROR_STATUS;

export interface CelerityErrorOptions {
  cause?: unknown;
  /** Seconds a client should wait before trying again (sent as `Retry-After`). */
  retryAfterS?: number;
}

/** An error with a stable `code` (and the HTTP status it maps to), raised by Celerity itself. */
export class CelerityError extends Error {
  override readonly name: string = 'CelerityError';
  readonly code: ErrorCode;
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, message: string, options: CelerityErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfterS = options.retryAfterS;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/** Invalid configuration: the process stops at start with this message (it names the variable). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly variable: string, message: string) {
    super(`${variable} ${message}`);
  }
}

/**
 * Thrown by a task to say "do not retry this": the input can never succeed.
 * Checked by `name` as well as by class, because task errors cross thread and process
 * boundaries (worker threads, Celery peers) where `instanceof` no longer holds.
 */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
}

/** Thrown by a task to ask for another attempt (the retry policy decides when). */
export class RetryableError extends Error {
  override readonly name = 'RetryableError';
}

/**
 * Thrown by a task to say "the downstream is over its limit: pause this task's key for
 * `retryAfterS` seconds" (defineTask's `rateLimit`; `ctx.backoff(s)` throws it too). Nothing of
 * that key starts, on any worker, until the pause ends; this task then runs again, counted
 * neither as a failure nor as a retry. Checked by name as well as by class (threads, processes).
 */
export class RateLimitedError extends Error {
  override readonly name = 'RateLimitedError';
  /** How long the key pauses, in seconds (a positive finite number). */
  readonly retryAfterS: number;

  constructor(options: { retryAfterS: number; message?: string }) {
    const retryAfterS = options.retryAfterS;
    if (typeof retryAfterS !== 'number' || !Number.isFinite(retryAfterS) || retryAfterS <= 0) {
      throw new TypeError(`RateLimitedError: retryAfterS must be a positive number of seconds, got ${String(retryAfterS)}`);
    }
    super(options.message ?? `Rate limited: this task's key pauses for ${retryAfterS} s`);
    this.retryAfterS = retryAfterS;
  }
}

/** `ctx.backoff(seconds)`: pauses the task's rate-limit key by throwing; never returns. */
export function backoff(seconds: number): never {
  throw new RateLimitedError({ retryAfterS: seconds });
}

/** The pause a `RateLimitedError` asks for, in seconds (by class, or by name and field after crossing a thread); undefined for any other error. */
export function rateLimitedPauseS(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { name, retryAfterS } = err as { name?: unknown; retryAfterS?: unknown };
  if (!(err instanceof RateLimitedError) && name !== 'RateLimitedError') return undefined;
  return typeof retryAfterS === 'number' && Number.isFinite(retryAfterS) && retryAfterS > 0 ? retryAfterS : undefined;
}

/** Whether `err` is a `PermanentError`, by class or, after crossing a thread or process, by name. */
export function isPermanentError(err: unknown): boolean {
  if (err instanceof PermanentError) return true;
  // After structured cloning (worker threads) or JSON, an error is a plain object: go by name.
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'PermanentError';
}

/** Whether `err` is a `RetryableError`, by class or by name. */
export function isRetryableError(err: unknown): boolean {
  if (err instanceof RetryableError) return true;
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'RetryableError';
}

/** Turns any thrown value into an Error without losing what was thrown. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return new Error(`Non-error thrown: ${text}`, { cause: value });
}

/**
 * Longest error message stored, replied, dead-lettered or logged, in UTF-16 code units: a
 * task may fail with a message of any size (a 200 kB stack dump), and every copy of it costs
 * memory, log volume and redaction time. Longer messages keep their start and say how much
 * was cut.
 */
const MAX_ERROR_MESSAGE_CHARS = 8192;

/** `text` cut to `max` characters (default MAX_ERROR_MESSAGE_CHARS), marked when cut. */
export function truncateText(text: string, max = MAX_ERROR_MESSAGE_CHARS): string {
  if (text.length <= max) return text;
  const note = ` … [${text.length - max} more characters cut]`;
  let head = text.slice(0, Math.max(0, max - note.length));
  // Never end on the first half of a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
  return head + note;
}
