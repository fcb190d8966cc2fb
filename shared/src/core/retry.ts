/**
 * Retry policy: how often a failed task is tried again and how long it waits in between.
 * Declared per task in the catalogue, the retry count overridable per call
 * (`options.maxRetries`, carried in the message header `x-celerity-max-retries`).
 *
 * Which failures are retried:
 * - a `PermanentError` never (bad input that can never succeed);
 * - a `RetryableError` always, while retries remain;
 * - anything else only when the policy says `retryOn: 'any'` (the default, `'retryable'`,
 *   matches Celery, where a task retries only when it asks to or lists the exception in
 *   `autoretry_for`).
 */
import { isPermanentError, isRetryableError } from './errors.js';

export interface RetryPolicy {
  /** Retries after the first attempt. @default 3 */
  maxRetries: number;
  /** Delay before the first retry, in ms; doubles each retry. @default 1000 */
  backoffMs: number;
  /** Longest delay between attempts, in ms. @default 600000 (10 minutes) */
  backoffMaxMs: number;
  /** Which errors are retried: only `RetryableError`s, or any error but a `PermanentError`. @default 'retryable' */
  retryOn: 'retryable' | 'any';
}

/** The policy of a task that sets no `retry`: 3 retries, 1 s doubling up to 10 minutes, only `RetryableError`s. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 3, backoffMs: 1_000, backoffMaxMs: 600_000, retryOn: 'retryable' };

/** Highest `maxRetries` a caller may ask for. */
export const MAX_RETRIES_LIMIT = 100;

/**
 * Header marking a task message that may have been published before under the same id (an
 * Idempotency-Key retry after a publish without confirm): the worker checks the store first,
 * as it does for a redelivered message, and does not run a task that already finished.
 */
export const REPUBLISHED_HEADER = 'x-celerity-republished';

/** Header carrying a per-call `maxRetries` (Celery's protocol has no field for it). */
export const MAX_RETRIES_HEADER = 'x-celerity-max-retries';

export function isRetryable(err: unknown, policy: RetryPolicy): boolean {
  if (isPermanentError(err)) return false;
  return isRetryableError(err) || policy.retryOn === 'any';
}

/**
 * Exponential backoff with "equal jitter": half the delay is fixed, half random, so retries
 * of many tasks that failed together (a dependency went down) spread out instead of
 * returning in one wave, and no retry comes back sooner than half its backoff.
 */
export function retryDelayMs(policy: RetryPolicy, retries: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.backoffMaxMs, policy.backoffMs * 2 ** Math.min(retries, 30));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
