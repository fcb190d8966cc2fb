/**
 * Dead letters: a task message that will not run again by itself — its last retry failed,
 * it kept crashing workers past the delivery limit, or it is poison (not JSON, no task
 * headers, an unknown task, arguments its schema refuses) — is published by the worker to
 * its queue's dead-letter queue `<queue>.dead` with the reason and the error in headers,
 * then acked. Nothing is dropped, and an operator can list dead letters and re-drive them
 * onto their queue (CLI `worker dead-letters`, HTTP `/api/v1/dead-letters`).
 *
 * The worker publishes dead letters itself (with a confirm) instead of nacking into a
 * dead-letter exchange: that would need `x-dead-letter-exchange` on the task queue, which a
 * Celery client's plain declaration of the same queue would then contradict
 * (PRECONDITION_FAILED). `<queue>.dead` has the type of its task queue (QUEUE_TYPES). A quorum
 * task queue does carry dead-letter arguments, for the broker's own delivery limit (the
 * backstop, `QUORUM_DELIVERY_LIMIT`): those dead letters arrive with `x-death` and no
 * Celerity reason. Bound a dead-letter queue's length with a policy if you must
 * (docs/reliability.md).
 */
import type { Channel, ChannelModel, ConsumeMessage, GetMessage, Options } from 'amqplib';
import { BROKER_DEATH_HEADERS, DELAY_HEADER } from './delay.js';
import type { IncomingProperties } from './protocol.js';
import { applyTopology, declareTaskQueue } from './apply-topology.js';
import { openTransientChannel } from './managed-channel.js';
import { CLASSIC_QUEUES, deadLetterTopology, type QueueTypes } from './topology.js';
import { publishTimeHeaders } from './queue-wait.js';

export const DEAD_LETTER_SUFFIX = '.dead';

export function deadLetterQueueName(queue: string): string {
  return `${queue}${DEAD_LETTER_SUFFIX}`;
}

/** Declares dead-letter queue `name` (`<queue>.dead`) with the type of its task queue. */
export async function declareDeadLetterQueue(channel: Channel, name: string, types: QueueTypes = CLASSIC_QUEUES): Promise<void> {
  const queue = name.endsWith(DEAD_LETTER_SUFFIX) ? name.slice(0, -DEAD_LETTER_SUFFIX.length) : name;
  await applyTopology(channel, deadLetterTopology(queue, types));
}

/** The properties of a delivered message, as far as they are carried over on a re-publish. */
export type DeliveredProperties = IncomingProperties & { messageId?: unknown; timestamp?: unknown; type?: unknown; appId?: unknown };

/** Why a message was dead-lettered (header `x-celerity-dead-reason`). */
export type DeadReason = 'failed' | 'delivery-limit' | 'malformed' | 'unknown-task' | 'invalid-arguments';

/** Headers a dead letter carries on top of its original ones. */
export const DEAD_LETTER_HEADERS = {
  reason: 'x-celerity-dead-reason',
  errorType: 'x-celerity-error-type',
  errorMessage: 'x-celerity-error-message',
  deadAt: 'x-celerity-dead-at',
  queue: 'x-celerity-original-queue',
} as const;

/** Longest error message kept in a header (the full one is in the store). */
const HEADER_TEXT_MAX = 4096;

/** Publish options for the dead letter of a message delivered from `queue`. */
export function deadLetterOptions(
  properties: DeliveredProperties,
  queue: string,
  reason: DeadReason,
  error: { type: string; message: string } | null,
): Options.Publish {
  const headers: Record<string, unknown> = { ...withoutBrokerHeaders(properties.headers) };
  headers[DEAD_LETTER_HEADERS.reason] = reason;
  headers[DEAD_LETTER_HEADERS.queue] = queue;
  headers[DEAD_LETTER_HEADERS.deadAt] = new Date().toISOString();
  if (error) {
    headers[DEAD_LETTER_HEADERS.errorType] = error.type.slice(0, 200);
    headers[DEAD_LETTER_HEADERS.errorMessage] = error.message.slice(0, HEADER_TEXT_MAX);
  }
  return { ...publishProperties(properties), headers, deliveryMode: 2 };
}

/** One dead letter as the CLI and the HTTP API show it. */
export interface DeadLetter {
  /** Task id (correlation id), or null for poison without one. */
  id: string | null;
  name: string | null;
  queue: string;
  reason: string | null;
  error: { type: string; message: string } | null;
  retries: number;
  deadAt: string | null;
  bytes: number;
}

function describe(message: GetMessage, deadQueue: string): DeadLetter {
  const headers = (message.properties.headers ?? {}) as Record<string, unknown>;
  const text = (key: string): string | null => {
    const value = headers[key];
    return typeof value === 'string' ? value : headersValue(value);
  };
  const errorType = text(DEAD_LETTER_HEADERS.errorType);
  return {
    id: text('id') ?? (typeof message.properties.correlationId === 'string' ? message.properties.correlationId : null),
    name: text('task'),
    queue: text(DEAD_LETTER_HEADERS.queue) ?? deadQueue.slice(0, -DEAD_LETTER_SUFFIX.length),
    reason: text(DEAD_LETTER_HEADERS.reason) ?? brokerDeathReason(headers),
    error: errorType === null ? null : { type: errorType, message: text(DEAD_LETTER_HEADERS.errorMessage) ?? '' },
    retries: typeof headers.retries === 'number' ? headers.retries : 0,
    deadAt: text(DEAD_LETTER_HEADERS.deadAt),
    bytes: message.content.length,
  };
}

/**
 * A message the broker dead-lettered by itself (a quorum queue's `x-delivery-limit`) has no
 * Celerity reason header; its latest `x-death` entry (they are newest first) says why, e.g.
 * `broker:delivery_limit`.
 */
function brokerDeathReason(headers: Record<string, unknown>): string | null {
  const deaths = headers['x-death'];
  if (!Array.isArray(deaths)) return null;
  const reason: unknown = (deaths[0] as { reason?: unknown } | undefined)?.reason;
  const text = typeof reason === 'string' ? reason : headersValue(reason);
  return text === null ? null : `broker:${text}`;
}

/** amqplib hands long strings in headers over as Buffers. */
function headersValue(value: unknown): string | null {
  return Buffer.isBuffer(value) ? value.toString('utf8') : null;
}

/**
 * The first `limit` dead letters of `queue`, oldest first, without removing them: they are
 * fetched unacked and go back to their places when the channel closes. [] when there is no
 * dead-letter queue.
 */
export async function listDeadLetters(connection: ChannelModel, queue: string, limit: number): Promise<DeadLetter[]> {
  const deadQueue = deadLetterQueueName(queue);
  const channel = await openTransientChannel(connection);
  try {
    if (!(await queueExists(connection, deadQueue))) return [];
    const letters: DeadLetter[] = [];
    while (letters.length < limit) {
      const message = await channel.get(deadQueue, { noAck: false });
      if (!message) break;
      letters.push(describe(message, deadQueue));
    }
    return letters;
  } finally {
    // Closing the channel returns every fetched message to the queue, in order.
    await channel.close().catch(() => undefined);
  }
}

export interface RedriveOptions {
  /** Only these task ids; all when absent. */
  ids?: readonly string[];
  /** Most messages re-driven in one call. @default 1000 */
  limit?: number;
  /**
   * Called with the task ids about to be re-driven, after their task queues are declared and
   * before anything is published: the store puts them back to PENDING here (after the
   * publish, a fast worker could finish first). Ids it `skipped` (already finished otherwise)
   * are not re-driven: their dead letters are acked as stale duplicates. `undo` gets the ids
   * whose publish failed, so no task stays PENDING without a message.
   */
  beforePublish?: (ids: string[]) => Promise<{ skipped: string[]; undo: (ids: string[]) => Promise<void> }>;
  /** How the target task queues are declared (QUEUE_TYPES). @default every queue classic */
  queueTypes?: QueueTypes;
}

/**
 * Moves dead letters of `queue` back onto their task queue with a fresh retry count. Each is
 * acked from the dead-letter queue only after the broker confirmed its re-publish, so a
 * failure half-way leaves every message in one queue or the other (at worst, both).
 */
export async function redriveDeadLetters(
  connection: ChannelModel,
  queue: string,
  options: RedriveOptions = {},
): Promise<{ redriven: string[]; skipped: string[] }> {
  const deadQueue = deadLetterQueueName(queue);
  if (!(await queueExists(connection, deadQueue))) return { redriven: [], skipped: [] };
  const limit = options.limit ?? 1000;
  const wanted = options.ids ? new Set(options.ids) : undefined;
  const channel = await openTransientChannel(connection, { confirm: true });
  const returned = new Set<string>();
  channel.on('return', (message: ConsumeMessage) => {
    if (typeof message.properties.correlationId === 'string') returned.add(message.properties.correlationId);
  });
  try {
    const picked: { message: GetMessage; letter: DeadLetter }[] = [];
    const seen = new Set<string>();
    // Bounded scan: a filter by id over a huge dead-letter queue stops after this many.
    const scanLimit = Math.max(limit * 10, 10_000);
    for (let fetched = 0; picked.length < limit && fetched < scanLimit; fetched++) {
      const message = await channel.get(deadQueue, { noAck: false });
      if (!message) break;
      const letter = describe(message, deadQueue);
      // Messages left unpicked stay unacked and return to the queue when the channel closes.
      if (letter.id === null || (wanted && !wanted.has(letter.id))) continue;
      if (seen.has(letter.id)) {
        // The same task dead-lettered twice (at-least-once): re-drive it once.
        channel.ack(message);
        continue;
      }
      seen.add(letter.id);
      picked.push({ message, letter });
    }
    if (picked.length === 0) return { redriven: [], skipped: [] };
    // Declared before the store is touched: a refused declaration leaves every task as it was.
    const targets = new Set(picked.map((p) => p.letter.queue));
    for (const target of targets) await declareTaskQueue(channel, target, options.queueTypes);
    const reset = await options.beforePublish?.(picked.map((p) => p.letter.id as string));
    const skipped = new Set(reset?.skipped ?? []);
    const sending: Promise<{ id: string; message: GetMessage; ok: boolean }>[] = [];
    for (const { message, letter } of picked) {
      const id = letter.id as string;
      if (skipped.has(id)) {
        channel.ack(message);
        continue;
      }
      // Published afresh: its queue wait counts from now, not from before it was dead-lettered.
      const headers = { ...withoutDeadLetterHeaders(message.properties.headers), ...publishTimeHeaders() };
      headers.retries = 0;
      sending.push(
        new Promise((resolve) => {
          try {
            channel.publish('', letter.queue, message.content, { ...publishProperties(message.properties), headers, deliveryMode: 2, mandatory: true }, (err: unknown) =>
              resolve({ id, message, ok: !err && !returned.has(id) }),
            );
          } catch {
            resolve({ id, message, ok: false });
          }
        }),
      );
    }
    // Each publish is confirmed (or nacked) on its own: only the ones that failed are undone.
    const outcomes = await Promise.all(sending);
    const failed = outcomes.filter((o) => !o.ok).map((o) => o.id);
    if (failed.length > 0) await reset?.undo(failed);
    const redriven: string[] = [];
    for (const { id, message, ok } of outcomes) {
      if (!ok) continue;
      channel.ack(message);
      redriven.push(id);
    }
    return { redriven, skipped: [...skipped].filter((id) => seen.has(id)) };
  } finally {
    await channel.close().catch(() => undefined);
  }
}

async function queueExists(connection: ChannelModel, queue: string): Promise<boolean> {
  // A passive check of a missing queue closes its channel with 404: use a throwaway one.
  const probe = await openTransientChannel(connection);
  try {
    await probe.checkQueue(queue);
    await probe.close().catch(() => undefined);
    return true;
  } catch {
    return false;
  }
}

function withoutBrokerHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...(headers ?? {}) };
  for (const name of BROKER_DEATH_HEADERS) delete copy[name];
  delete copy[DELAY_HEADER];
  return copy;
}

function withoutDeadLetterHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const copy = withoutBrokerHeaders(headers);
  for (const name of Object.values(DEAD_LETTER_HEADERS)) delete copy[name];
  return copy;
}

/** The properties of a delivered message worth keeping when it is published again. */
export function publishProperties(properties: DeliveredProperties): Options.Publish {
  const options: Options.Publish = {};
  if (typeof properties.correlationId === 'string') options.correlationId = properties.correlationId;
  if (typeof properties.replyTo === 'string') options.replyTo = properties.replyTo;
  if (typeof properties.contentType === 'string') options.contentType = properties.contentType;
  if (typeof properties.contentEncoding === 'string') options.contentEncoding = properties.contentEncoding;
  if (typeof properties.priority === 'number') options.priority = properties.priority;
  if (typeof properties.messageId === 'string') options.messageId = properties.messageId;
  if (typeof properties.timestamp === 'number') options.timestamp = properties.timestamp;
  if (typeof properties.type === 'string') options.type = properties.type;
  if (typeof properties.appId === 'string') options.appId = properties.appId;
  return options;
}

/** Headers for a message published again (a retry, a re-delay): broker bookkeeping removed. */
export function republishHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  return withoutBrokerHeaders(headers);
}
