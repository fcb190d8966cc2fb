/** What core/ offers the rest of Celerity: an explicit list; a new export is a decision. */
export {
  CelerityError,
  coerceError,
  backoff,
  ConfigError,
  ERROR_STATUS,
  type ErrorCode,
  isPermanentError,
  isRetryableError,
  PermanentError,
  RateLimitedError,
  rateLimitedPauseS,
  RetryableError,
  truncateText,
} from './errors.js';
export {
  assertStorableArguments,
  findUnstorable,
  toStorableText,
  unstorableTextReason,
} from './jsonb.js';
export { jsonObjectOf } from './json-body.js';
export { onSignals, shutdownSteps } from './lifecycle.js';
export {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  loggerFromConfig,
  type LogLevel,
  redactSecrets,
  redactUrl,
} from './logger.js';
export {
  createRegistry,
  type KnownTasks,
  LATENCY_BUCKETS,
  RUN_TIME_BUCKETS,
  tasksOf,
  WAIT_BUCKETS,
} from './metrics.js';
export {
  isValidQueueName,
  isValidSchemaName,
  QUEUE_NAME_RULE,
  QUEUE_TYPE_NAMES,
  HEADER_FORMATS,
  type HeaderFormat,
  MIN_MAX_PRIORITY,
  queueTypeOf,
  MAX_MAX_PRIORITY,
  type QueueType,
  type QueueTypes,
  QUEUE_PATTERN_RULE,
  isValidQueuePattern,
} from './names.js';
export { repr } from './repr.js';
export {
  DEFAULT_RETRY_POLICY,
  isRetryable,
  MAX_RETRIES_HEADER,
  MAX_RETRIES_LIMIT,
  REPUBLISHED_HEADER,
  retryDelayMs,
  type RetryPolicy,
} from './retry.js';
export { isResultMode, RESULT_MODE_HEADER, RESULT_MODES, type ResultMode, resultModeOf } from './result-mode.js';
export { SlotAbortedError, Slots } from './slots.js';
export {
  FINAL_STATES,
  isFinalState,
  isTaskState,
  stateOrder,
  TASK_STATES,
  type TaskError,
  type TaskRecord,
  type TaskRepresentation,
  type TaskState,
  type TaskWrite,
  toRepresentation,
} from './task.js';
export {
  stamp,
  stampEach,
  startTrace,
  traceNow,
  tracing,
} from './trace.js';
export { MAX_TIMER_MS } from './timers.js';
export {
  decodeFeedMessage,
  MAX_LOG_LINE_CHARS,
  MAX_OUTPUT_CHUNK_CHARS,
  MAX_PROGRESS_MESSAGE_CHARS,
  MAX_TASK_EVENTS,
  PROGRESS_INTERVAL_MS,
  type ProgressData,
  type TaskEvent,
  type TaskEventKind,
  type TaskFeedMessage,
} from './task-events.js';
