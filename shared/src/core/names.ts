/**
 * Names and kinds that configuration and the broker and database layers all check: queue names,
 * queue types and schema names. It imports nothing, so `config.ts` can validate settings without
 * loading `amqp/` or `db/` (and without an import cycle through the logger).
 */

const QUEUE_NAME = /^[A-Za-z0-9._:-]{1,200}$/;

/** The rule of isValidQueueName, in words, for error messages. */
export const QUEUE_NAME_RULE = 'letters, digits, . _ - and :, at most 200, not starting with amq.';

/** Queue names we accept from callers and operators; `amq.` is reserved by the broker. */
export function isValidQueueName(name: string): boolean {
  return QUEUE_NAME.test(name) && !name.startsWith('amq.');
}

/** A RabbitMQ queue type Celerity declares task queues as. */
export const QUEUE_TYPE_NAMES = ['classic', 'quorum'] as const;
export type QueueType = (typeof QUEUE_TYPE_NAMES)[number];

/**
 * MESSAGE_HEADERS: which headers a submitted task message carries. `celery`: every header of
 * Celery's protocol v2, so a Python Celery worker can run it; `lean`: only those a Celerity
 * worker reads (shared/src/broker/protocol.ts).
 */
export const HEADER_FORMATS = ['celery', 'lean'] as const;
export type HeaderFormat = (typeof HEADER_FORMATS)[number];

/**
 * How task queues are declared: QUEUE_TYPES, the type of every queue (`default`, from `*`) and
 * per-queue exceptions, and QUEUE_MAX_PRIORITY, the queues declared with `x-max-priority`.
 * One value, because every declarer (gateways, workers, clients) must declare a queue alike.
 */
export interface QueueTypes {
  default: QueueType;
  perQueue: Readonly<Record<string, QueueType>>;
  /** Queues that take message priorities, with their highest priority (1..255). @default none */
  maxPriority?: Readonly<Record<string, number>>;
}

/** The type of task queue `queue` (its `<queue>.dead` follows it). */
export function queueTypeOf(types: QueueTypes, queue: string): QueueType {
  return types.perQueue[queue] ?? types.default;
}

/** Bounds of a queue's `x-max-priority`; RabbitMQ recommends at most 10 (each level costs the broker). */
export const MIN_MAX_PRIORITY = 1;
export const MAX_MAX_PRIORITY = 255;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Schema names we accept: a lower-case identifier, so quoting it in DDL is enough. */
export function isValidSchemaName(schema: string): boolean {
  return SCHEMA_NAME.test(schema);
}

/** The rule of isValidQueuePattern, in words, for error messages. */
export const QUEUE_PATTERN_RULE = 'a queue name or a pattern with * (any run of characters), e.g. reports.* ; * allows any queue that is not reserved';

const QUEUE_PATTERN = /^[A-Za-z0-9._:*-]{1,200}$/;

export function isValidQueuePattern(pattern: string): boolean {
  return QUEUE_PATTERN.test(pattern);
}
