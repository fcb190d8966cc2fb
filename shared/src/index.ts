/**
 * The public entry of shared/: gateway/ and worker/ import from here only. An explicit list, by
 * the module each name lives in: what shared/ offers the other folders is read here, and a new
 * export is a decision (add it to its module's line), not a side effect of `export *`.
 */
export {
  CelerityError,
  coerceError,
  ConfigError,
  ERROR_STATUS,
  isPermanentError,
  isRetryableError,
  MAX_ERROR_MESSAGE_CHARS,
  PermanentError,
  RetryableError,
  truncateText,
  type CelerityErrorOptions,
  type ErrorCode,
} from './errors.js';
export {
  FINAL_STATES,
  isFinalState,
  isTaskState,
  STATE_RANK,
  TASK_STATES,
  toRepresentation,
  type TaskError,
  type TaskRecord,
  type TaskRepresentation,
  type TaskState,
  type TaskWrite,
} from './task.js';
export {
  assertStorableArguments,
  findUnstorable,
  MAX_JSON_DEPTH,
  toStorableText,
  unstorableTextReason,
  type UnstorableValue,
} from './jsonb.js';
export { repr, REPR_MAX } from './repr.js';
export {
  DEFAULTS,
  loadCommonConfig,
  loadGatewayConfig,
  loadWorkerConfig,
  parseMetricsAccess,
  withGatewayDefaults,
  withWorkerDefaults,
  type GatewayConfigDefaulted,
  type WorkerConfigDefaulted,
} from './config.js';
export {
  createLogger,
  createSilentLogger,
  loggerFromConfig,
  redactSecrets,
  redactUrl,
  redactUrlCredentials,
  type Logger,
  type LoggerOptions,
} from './logger.js';
export { stamp, stampEach, startTrace, stopTrace, traceNow, tracing, type TraceHop, type TraceLine } from './trace.js';
export { onSignals, shutdownSteps, type ShutdownSteps } from './lifecycle.js';
export { Catalogue, checkArguments, formatIssues, retryPolicyOf, type ArgumentCheck, type ArgumentIssue } from './catalogue.js';
export {
  DEFAULT_TASK_QUEUE,
  defineTask,
  externalTask,
  isTask,
  isValidTaskName,
  TASK_NAME_RULE,
  type Task,
  type TaskArgs,
  type TaskConfig,
  type TaskContext,
  type TaskDefinition,
  type TaskKwargs,
  type TaskResult,
  type TaskRun,
  type TaskInput,
  type TaskStyle,
  type InputRun,
} from './app/define-task.js';
export {
  isStandardSchema,
  issuePath,
  validateSync,
  type InferInput,
  type InferOutput,
  type StandardIssue,
  type StandardResult,
  type StandardSchemaV1,
} from './app/standard-schema.js';
export { collectTasks } from './app/collect-tasks.js';
export { loadApp, type LoadAppOptions, type LoadedApp } from './app/load-app.js';
export { createRegistry, LATENCY_BUCKETS, RUN_TIME_BUCKETS, tasksOf, WAIT_BUCKETS, type KnownTasks } from './metrics.js';
export {
  type BindingSpec,
  CLASSIC_QUEUES,
  deadLetterQueueArguments,
  deadLetterTopology,
  type DeclaredWhen,
  delayTopology,
  type DescribeOptions,
  describeTopology,
  EVENT_MONITOR_QUEUE_ARGUMENTS,
  eventMonitorTopology,
  eventTopology,
  type ExchangeSpec,
  mergeTopologies,
  type QueueKind,
  type QueueSpec,
  queueTypeOf,
  QUORUM_DELIVERY_LIMIT,
  REPLY_QUEUE_PREFIX,
  replyQueueTopology,
  SERVER_NAMED,
  taskQueueArguments,
  taskQueueTopology,
  type Topology,
} from './amqp/topology.js';
export {
  applyTopology,
  declareDelayQueue,
  declareEventExchange,
  declareReplyQueue,
  declareTaskQueue,
  isQueueUnavailable,
  QueueMismatchError,
} from './amqp/apply-topology.js';
export {
  DeclaredTopology,
  type DeclaredTopologyOptions,
  DeclaredQueues,
} from './amqp/declared-topology.js';
export {
  ManagedChannel,
  eachOnTransientChannel,
  type ConsumeOptions,
  type DeliveryHandler,
  type ManagedChannelOptions,
  type QueueSource,
  openTransientChannel,
  withChannel,
} from './amqp/managed-channel.js';
export {
  CONTENT_ENCODING,
  CONTENT_TYPE,
  decodeTaskMessage,
  encodeTaskMessage,
  expirationFor,
  isExpired,
  MAX_MESSAGE_TTL_MS,
  MAX_TASK_ID_BYTES,
  MessageFormatError,
  newTaskMessage,
  OWNER_HEADER,
  type EncodedMessage,
  type IncomingProperties,
  type NewTask,
  type TaskMessage,
} from './amqp/protocol.js';
export {
  Broker,
  connectBroker,
  BrokerAuthError,
  BrokerUnreachableError,
  handshakeReplyCode,
  type BrokerOptions,
  type BrokerConfig,
  type SetupFn,
} from './amqp/connection.js';
export { Publisher, type OutgoingMessage, type PublisherOptions } from './amqp/publisher.js';
export {
  BROKER_DEATH_HEADERS,
  DELAY_EXCHANGE,
  DELAY_HEADER,
  DELAY_LEVELS_MS,
  delayLevelFor,
  delayQueueName,
  parseEta,
} from './amqp/delay.js';
export {
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_SUFFIX,
  deadLetterOptions,
  deadLetterQueueName,
  declareDeadLetterQueue,
  listDeadLetters,
  publishProperties,
  republishHeaders,
  type DeadLetter,
  type DeadReason,
  type DeliveredProperties,
} from './amqp/dead-letters.js';
export { redriveDeadLetters, type RedriveOptions, type RedriveParts } from './amqp/redrive.js';
export { deadLetterTarget, delayedTarget, taskTarget, type PublishTarget, type RequiredQueue, type ReturnRule } from './amqp/publish-target.js';
export {
  DEFAULT_RETRY_POLICY,
  isRetryable,
  MAX_RETRIES_HEADER,
  MAX_RETRIES_LIMIT,
  REPUBLISHED_HEADER,
  retryDelayMs,
  type RetryPolicy,
} from './retry.js';
export { assertSchemaName, createPool, DEFAULT_SCHEMA, type PoolOptions } from './db/pool.js';
export { LATEST_SCHEMA_VERSION, SchemaVersionError, appliedMigrations, ensureSchema, ensureSchemaAt, migrate, type EnsureSchemaOptions, type MigrateResult, type SchemaCheck } from './db/migrate.js';
export {
  databaseUnavailable,
  TaskStore,
  type ClaimResult,
  type RedriveReset,
  type TaskClaim,
  type TaskCursor,
  type TaskPage,
  type TaskSearch,
  type TaskStoreOptions,
} from './db/store.js';
export { IdempotencyKeys, type IdempotencyClaim } from './db/idempotency.js';
export { isRetryablePgError } from './db/pg-errors.js';
export { BatchWriter, type BatchWriterOptions } from './db/batch-writer.js';
export { MIGRATIONS, type Migration } from './db/migrations.js';
export {
  decodeEvent,
  EVENT_EXCHANGE,
  eventRoutingKey,
  TASK_EVENT_TYPES,
  utcOffsetHours,
  WORKER_EVENT_TYPES,
  type CelerityEvent,
  type EventEnvelope,
  type EventType,
  type TaskEventType,
  type WorkerEventFields,
  type WorkerEventType,
} from './amqp/events.js';
export { PUBLISHED_AT_HEADER, publishTimeHeaders, publishedAt, queueWaitSeconds, type QueueWaitSource } from './amqp/queue-wait.js';
export {
  ADMIN_SCOPE,
  formatScopes,
  matchesTaskPattern,
  maySubmitTask,
  parseScopes,
  READ_SCOPE,
  SCOPE_RULE,
  ScopeError,
  type Scopes,
} from './auth/scopes.js';
export { MAX_MESSAGE_RETRIES, REPLY_TO_RULE, claimProblem, isReplyQueueName } from './amqp/message-claims.js';
export { QueueAllowlist, assertUsableQueue, isValidQueuePattern, QUEUE_PATTERN_RULE, reservedQueueReason, type QueueAllowlistOptions } from './queue-access.js';
export {
  API_KEY_PREFIX,
  ApiKeyError,
  ApiKeyStore,
  KEY_NAME,
  KEY_NAME_RULE,
  parseApiKey,
  type ApiKeyInfo,
  type CreatedApiKey,
} from './auth/api-keys.js';
export {
  decodeResultBody,
  encodeResultBody,
  SENDER_RECORDS_KEY,
  toCeleryException,
  type CeleryException,
  type TaskOutcome,
} from './amqp/results.js';
export { celeryOptionsSchema, MAX_PRIORITY, resolveCeleryOptions, type CeleryOptions } from './client/celery-options.js';
export { Client, createClient, type ClientOptions, type ClientSubmitOptions, type SubmitItem } from './client/client.js';
export { ClientCore, type ClientCoreOptions } from './client/core.js';
export { SubmitManyError, TaskFailedError, TaskTimeoutError, type SubmitManyOutcome } from './client/errors.js';
export { TaskHandle, type ResultOptions } from './client/handle.js';
export { IdempotentSubmits, isValidIdempotencyKey, type IdempotentStart } from './client/idempotent-submits.js';
export { ReplyListener } from './client/reply-listener.js';
export { TaskLedger, type TaskLedgerOptions } from './client/task-ledger.js';
export { DEFAULT_LEDGER_MAX_BYTES, withOutcome, type LedgerChange, type LedgerListener, type LedgerState } from './client/ledger-entry.js';
export {
  assertArgumentsSize,
  identify,
  pendingRecord,
  prepareSubmission,
  submitBodySchema,
  submitOptionsSchema,
  type Submission,
  type SubmitOptions,
  type SubmitRequest,
} from './client/submission.js';
export { submitTask, type SubmitAnswer, type SubmitCall, type SubmitParts } from './client/submit-flow.js';
export { Slots, SlotAbortedError, type Release } from './slots.js';
export { Submitter, type SubmitLimits, type SubmitMetrics, type SubmitterDeps } from './client/submitter.js';
export { LedgerWaits, MAX_TIMER_MS, REPLY_GRACE_MS, type Finished, type LedgerWaitsOptions, type PendingWait, type WaitOptions, type WaitSignal } from './client/ledger-waits.js';
export {
  parseAmqpUrls,
  parseDatabaseUrl,
  parseExternalTasks,
  parseInteger,
  parseOrigins,
  parseQueueMaxLength,
  parseQueues,
  parseQueueTypes,
  parseSize,
  type ExternalTaskConfig,
  type QueueMaxLength,
} from './config/parse.js';
export { AUTH_MODES, isLoopback, type AmqpTlsOptions, type AuthMode, type MetricsAccess } from './config/security.js';
export { mergeWrites, stateOrder } from './db/task-writes.js';
export { isValidQueueName, isValidSchemaName, QUEUE_NAME_RULE, QUEUE_TYPE_NAMES, type QueueType, type QueueTypes } from './names.js';
export {
  LOG_FORMATS,
  LOG_LEVELS,
  type CommonConfig,
  type GatewayConfig,
  type GatewayFlags,
  type LogFormat,
  type LogLevel,
  type ServiceFlags,
  type WorkerConfig,
  type WorkerFlags,
} from './config/types.js';
