/**
 * What every step of the worker's pipeline shares: the delivery it starts from, what the
 * consumer is told at the end, and the stable error names a task can end with.
 */
import type { DeliveredProperties } from '../../../shared/src/broker/index.js';

/** One message as the consumer received it. */
export interface Delivery {
  queue: string;
  content: Buffer;
  properties: DeliveredProperties;
  redelivered: boolean;
}

/** What to tell the broker once the task is done with (a failure to settle throws instead). */
export type Disposition = 'ack';

/** Sends a reply to `reply_to`; returns when it is handed to the channel. */
export type ReplySender = (replyTo: string, correlationId: string, body: Buffer) => void;

/** An error as it is recorded, replied and dead-lettered. */
export interface TaskError {
  type: string;
  message: string;
}

/**
 * The task was stopped by the worker (shutdown), not failed by its own doing: nothing is
 * recorded, and the message goes back to the queue for another worker.
 */
export class TaskInterruptedError extends Error {
  override readonly name = 'TaskInterruptedError';
  readonly code = 'TASK_INTERRUPTED';
}

/** Error types a task can end with without having raised them itself; stable, Python-style names. */
export const UNKNOWN_TASK = 'UnknownTaskError';
export const INVALID_ARGUMENTS = 'InvalidArgumentsError';
/** A task's `rateLimit.key` (or `units`) function failed on its input. */
export const INVALID_FLOW_KEY = 'InvalidFlowKeyError';
export const MALFORMED_MESSAGE = 'MalformedMessageError';
/** A result JSON can carry but PostgreSQL's jsonb cannot (U+0000, a lone surrogate, too deep). */
export const UNSTORABLE_RESULT = 'UnstorableResultError';
export const DELIVERY_LIMIT = 'DeliveryLimitExceeded';
export const RESULT_TOO_LARGE = 'ResultTooLargeError';
/** The store refused a task's outcome for good (see record.ts). */
export const RESULT_NOT_STORED = 'ResultNotStoredError';
/** Celery's names for the hard and the soft time limit. */
export const TIME_LIMIT = 'TimeLimitExceeded';
export const SOFT_TIME_LIMIT = 'SoftTimeLimitExceeded';

/** @see TaskRunnerDeps.leaseMs */
export const DEFAULT_LEASE_MS = 6_000;
