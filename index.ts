/**
 * Celerity's public API: what `import … from 'celerity'` gives. Importing it starts nothing
 * (no connection, no timer); the factories below do, when called.
 *
 * @packageDocumentation
 */
export { z } from 'zod';
export {
  DEFAULT_TASK_QUEUE,
  TASK_NAME_RULE,
  defineTask,
  externalTask,
  isTask,
  isValidTaskName,
  type Task,
  type TaskArgs,
  type TaskConfig,
  type TaskContext,
  type TaskDefinition,
  type TaskKwargs,
  type TaskResult,
  type TaskRun,
} from './shared/src/app/define-task.js';
export type { StandardSchemaV1, InferInput, InferOutput } from './shared/src/app/standard-schema.js';
export { loadApp, type LoadAppOptions, type LoadedApp } from './shared/src/app/load-app.js';
export {
  CelerityError,
  ConfigError,
  PermanentError,
  RetryableError,
  isPermanentError,
  isRetryableError,
  type ErrorCode,
} from './shared/src/errors.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './shared/src/retry.js';
export type { Logger } from './shared/src/logger.js';
export type { TaskRepresentation, TaskState } from './shared/src/task.js';
export { createWorker, type CelerityWorker, type CreateWorkerOptions } from './worker/src/create-worker.js';
export { createGateway, type CelerityGateway, type CreateGatewayOptions } from './gateway/src/create-gateway.js';
