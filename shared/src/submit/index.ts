/** What submit/ offers the rest of Celerity: an explicit list; a new export is a decision. */
export { ClientCore } from './core.js';
export { DEDUPE_MODES } from './dedupe.js';
export { isValidIdempotencyKey } from './idempotent-submits.js';
export {
  type Finished,
  REPLY_GRACE_MS,
  type WaitSignal,
} from './ledger-waits.js';
export {
  assertNoDedupe,
  identify,
  pendingRecord,
  prepareSubmission,
  submitOptionsSchema,
  type Submission,
  type SubmitOptions,
} from './submission.js';
export { Revoker, type RevokeOptions, type RevokeOutcome, revokeTask } from './revoker.js';
export { Submitter } from './submitter.js';
export {
  type StartedWorkflow,
  toWorkflowRepresentation,
  type WorkflowRepresentation,
  Workflows,
} from './workflows.js';
