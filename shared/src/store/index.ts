/** What store/ offers the rest of Celerity: an explicit list; a new export is a decision. */
export {
  type Dispatchable,
  type FlowKey,
  type FlowKeyTx,
  FlowStore,
  type HeldSlot,
  type LiveSlot,
  type WaitingTask,
} from './flow-slots.js';
export { type HeldDedupe, IdempotencyKeys } from './idempotency.js';
export {
  ensureSchemaAt,
  migrate,
  type MigrateResult,
  type SchemaCheck,
  SchemaVersionError,
} from './migrate.js';
export { isRetryablePgError } from './pg-errors.js';
export { createPool, DEFAULT_SCHEMA } from './pool.js';
export {
  COUNT_ACTIVE_API_KEYS,
  DELETE_API_KEY_SESSION,
  DELETE_EXPIRED_API_KEY_SESSIONS,
  INSERT_API_KEY,
  INSERT_API_KEY_SESSION,
  REVOKE_API_KEY,
  SELECT_ACTIVE_API_KEY,
  SELECT_API_KEY_SESSION,
  SELECT_API_KEYS,
} from './statements.js';
export {
  type KnownTask,
  RevocationStore,
  type RevokeRecord,
  type RevokeResult,
} from './revocations.js';
export { REVOKED_ERROR_TYPE } from './revoke-statements.js';
export { type TaskCursor, TaskStore } from './store.js';
export { type ClaimResult } from './task-claims.js';
export { type NewTaskEvent, TaskLog } from './task-log.js';
export {
  type MemberEnd,
  type WorkflowKind,
  type WorkflowMember,
  type WorkflowRecord,
  type WorkflowRole,
  WorkflowStore,
} from './workflow-store.js';
export {
  busiestFlowKeys,
  DEFAULT_BUSIEST_KEYS,
  type FlowView,
  MAX_BUSIEST_KEYS,
} from './flow-view.js';
