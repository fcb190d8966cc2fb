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
 * (PRECONDITION_FAILED). Re-driving them is redrive.ts. `<queue>.dead` has the type of its task queue (QUEUE_TYPES). A quorum
 * task queue does carry dead-letter arguments, for the broker's own delivery limit (the
 * backstop, `QUORUM_DELIVERY_LIMIT`): those dead letters arrive with `x-death` and no
 * Celerity reason. Bound a dead-letter queue's length with a policy if you must
 * (docs/reliability.md).
 */
import type { Channel, ChannelModel, GetMessage, Options } from 'amqplib';
import { BROKER_DEATH_HEADERS, DELAY_HEADER } from './delay.js';
import type { IncomingProperties } from './protocol.js';
import { applyTopology } from './apply-topology.js';
import { openTransientChannel } from './managed-channel.js';
import { CLASSIC_QUEUES, deadLetterTopology, type QueueTypes } from './topology.js';

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
const DEAD_LETTER_HEADERS = {
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

/** A fetched dead letter, as the CLI and the HTTP API show it. */
export function describeDeadLetter(message: GetMessage, deadQueue: string): DeadLetter {
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
      letters.push(describeDeadLetter(message, deadQueue));
    }
    return letters;
  } finally {
    // Closing the channel returns every fetched message to the queue, in order.
    await channel.close().catch(() => undefined);
  }
}

/** Whether `queue` exists, by a passive check on a throwaway channel. */
export async function queueExists(connection: ChannelModel, queue: string): Promise<boolean> {
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

export function withoutDeadLetterHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
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
