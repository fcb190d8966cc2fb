/**
 * The submit and wait path shared by the gateway and the Node client. The public client API
 * is `createClient`, `Client`, `TaskHandle`, the error classes and the option types; the
 * rest is what the gateway builds its HTTP routes from.
 */
export { createClient, Client, type ClientOptions, type ClientSubmitOptions, type SubmitItem } from './client.js';
export { TaskHandle, type ResultOptions } from './handle.js';
export { TaskFailedError, TaskTimeoutError, SubmitManyError, type SubmitManyOutcome } from './errors.js';
export { ClientCore, type ClientCoreOptions } from './core.js';
export { Submitter, type SubmitterDeps, type SubmitLimits, type SubmitMetrics } from './submitter.js';
export {
  prepareSubmission,
  identify,
  type SubmitRequest,
  pendingRecord,
  assertArgumentsSize,
  submitOptionsSchema,
  submitBodySchema,
  type Submission,
  type SubmitOptions,
} from './submission.js';
export { IdempotentSubmits, isValidIdempotencyKey, type IdempotentStart } from './idempotent-submits.js';
export { submitTask, type SubmitAnswer, type SubmitCall, type SubmitParts } from './submit-flow.js';
export { ReplyListener } from './reply-listener.js';
export { TaskLedger, type TaskLedgerOptions } from './task-ledger.js';
export { DEFAULT_LEDGER_MAX_BYTES, withOutcome, type LedgerState, type LedgerChange, type LedgerListener } from './ledger-entry.js';
export { LedgerWaits, MAX_TIMER_MS, REPLY_GRACE_MS, type Finished, type PendingWait, type WaitOptions, type WaitSignal, type LedgerWaitsOptions } from './ledger-waits.js';
export { resolveCeleryOptions, celeryOptionsSchema, MAX_PRIORITY, type CeleryOptions } from './celery-options.js';
