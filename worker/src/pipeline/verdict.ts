/**
 * Between run and settle: what a task's outcome means — a result to store, another attempt,
 * or a failure. Pure: the retry policy, the message's retry count and the result's shape.
 */
import {
  MAX_RETRIES_HEADER,
  findUnstorable,
  isPermanentError,
  isRetryable,
  rateLimitedPauseS,
  retryDelayMs,
  truncateText,
} from '../../../shared/src/core/index.js';
import { retryPolicyOf, type TaskDefinition } from '../../../shared/src/app/index.js';
import { REVOKED_ERROR_TYPE } from '../../../shared/src/store/index.js';
import { type DeliveredProperties, type TaskMessage } from '../../../shared/src/broker/index.js';
import { UNSERIALISABLE_RESULT } from '../cpu-job.js';
import type { TaskEnd } from './run.js';
import { RESULT_TOO_LARGE, SOFT_TIME_LIMIT, TIME_LIMIT, UNSTORABLE_RESULT, type TaskError } from './types.js';

/** Failures a task did not cause itself and that no retry would fix. */
const NEVER_RETRIED: ReadonlySet<string> = new Set([TIME_LIMIT, SOFT_TIME_LIMIT, UNSERIALISABLE_RESULT]);

export type Verdict =
  | { kind: 'success'; result: unknown }
  | { kind: 'retry'; error: TaskError; delayMs: number; maxRetries: number }
  /** `raised`: the task threw; `too-large` and `unstorable`: its result cannot be kept. */
  | { kind: 'failure'; error: TaskError; cause: 'raised' | 'too-large' | 'unstorable'; permanent: boolean }
  /** The task asked its rate key to pause (ctx.backoff, RateLimitedError): it runs again after, neither failed nor retried. */
  | { kind: 'backoff'; pauseS: number }
  /** A revoke terminated the task: REVOKED, never retried. */
  | { kind: 'revoked'; error: TaskError };

export function judge(
  outcome: TaskEnd,
  definition: TaskDefinition,
  message: TaskMessage,
  properties: DeliveredProperties,
  maxResultBytes: number | undefined,
): Verdict {
  if (outcome.kind === 'revoked') return { kind: 'revoked', error: { type: REVOKED_ERROR_TYPE, message: truncateText(outcome.reason) } };
  if (outcome.kind === 'threw') {
    const err = outcome.error;
    const pauseS = rateLimitedPauseS(err);
    if (pauseS !== undefined) return { kind: 'backoff', pauseS };
    // Bounded before it is logged, stored, replied or dead-lettered (errors.ts).
    const error = { type: err.name || 'Error', message: truncateText(err.message) };
    const policy = retryPolicyOf(definition);
    const maxRetries = maxRetriesOf(properties, policy.maxRetries);
    if (!NEVER_RETRIED.has(err.name) && isRetryable(err, policy) && message.retries < maxRetries) {
      return { kind: 'retry', error, delayMs: retryDelayMs(policy, message.retries), maxRetries };
    }
    return { kind: 'failure', error, cause: 'raised', permanent: isPermanentError(err) };
  }
  const json = toJsonValue(outcome.value, maxResultBytes);
  if (json.ok) return { kind: 'success', result: json.value };
  if (json.tooLarge) return { kind: 'failure', cause: 'too-large', permanent: true, error: { type: RESULT_TOO_LARGE, message: json.error } };
  return {
    kind: 'failure',
    cause: 'unstorable',
    permanent: true,
    error: { type: json.unstorable ? UNSTORABLE_RESULT : UNSERIALISABLE_RESULT, message: json.error },
  };
}

/** The per-call override of the retry count, when the message carries one. */
function maxRetriesOf(properties: DeliveredProperties, fallback: number): number {
  const value = properties.headers?.[MAX_RETRIES_HEADER];
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : fallback;
}

/** The result as it will be stored and replied (undefined becomes null), or why it cannot be. */
function toJsonValue(
  value: unknown,
  maxBytes?: number,
): { ok: true; value: unknown } | { ok: false; error: string; tooLarge?: boolean; unstorable?: boolean } {
  if (value === undefined) return { ok: true, value: null };
  // Walked first: JSON.stringify would silently drop a function member, throw on a BigInt or
  // a cycle, and let U+0000 through to a store that refuses it (shared/src/core/jsonb.ts).
  const bad = findUnstorable(value, 'result');
  if (bad) {
    const how = bad.kind === 'json' ? 'as JSON' : 'in PostgreSQL';
    return { ok: false, unstorable: bad.kind === 'jsonb', error: `The task's result cannot be stored ${how}: ${bad.path} ${bad.reason}` };
  }
  let text: string | undefined;
  try {
    // Stored and replied as JSON later; checked here so a bad value fails the task cleanly.
    text = JSON.stringify(value);
  } catch (err) {
    return { ok: false, error: `The task's result cannot be stored as JSON: ${(err as Error).message}` };
  }
  // A result over the limit would bloat the store and the reply: fail the task instead.
  const bytes = text === undefined || maxBytes === undefined ? 0 : Buffer.byteLength(text);
  if (maxBytes !== undefined && bytes > maxBytes) {
    return { ok: false, tooLarge: true, error: `The task's result takes ${bytes} bytes as JSON; the limit is ${maxBytes} (WORKER_MAX_RESULT)` };
  }
  return { ok: true, value: text === undefined ? null : value };
}
