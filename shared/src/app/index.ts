/** What app/ offers the rest of Celerity: an explicit list; a new export is a decision. */
export {
  type ArgumentIssue,
  Catalogue,
  checkArguments,
  formatIssues,
  retryPolicyOf,
} from './catalogue.js';
export { collectSchedules } from './collect-schedules.js';
export { collectTasks, type TaskSource } from './collect-tasks.js';
export { type ConcurrencyConfig, type ConcurrencyStrategy } from './concurrency-spec.js';
export {
  DEFAULT_TASK_QUEUE,
  defineTask,
  externalTask,
  type InputRun,
  isTask,
  isValidTaskName,
  type Task,
  TASK_NAME_RULE,
  type TaskArgs,
  type TaskConfig,
  type TaskContext,
  type TaskDefinition,
  type TaskInput,
  type TaskKwargs,
  type TaskResult,
  type TaskRun,
  type TaskStyle,
  type TaskStyleOf,
} from './define-task.js';
export {
  type CatchUpPolicy,
  checkSchedule,
  defineSchedule,
  type OverlapPolicy,
  type Schedule,
  type ScheduleConfig,
  type ScheduleDefinition,
  scheduleToJson,
} from './define-schedule.js';
export { MAX_FLOW_KEY_LENGTH, isValidUnits, type RateLimit } from './rate-limit-spec.js';
export { describeSpec, nextRunAfter, runsBetween } from './schedule-spec.js';
export { loadApp, type LoadAppOptions, type LoadedApp } from './load-app.js';
export { type InferInput, type InferOutput, type StandardSchemaV1 } from './standard-schema.js';
export { type StepOptions, type TaskSignature } from './signature.js';
