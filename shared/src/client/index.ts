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
export { ReplyRecorder, type ReplyRecorderOptions } from './reply-recorder.js';
export { TaskWaiters, type Finished, type PendingWait, type WaitOptions, type WaitSignal, type TaskWaitersOptions } from './waiters.js';
export { resolveCeleryOptions, celeryOptionsSchema, MAX_PRIORITY, type CeleryOptions } from './celery-options.js';
