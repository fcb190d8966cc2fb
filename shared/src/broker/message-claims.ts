/**
 * What a task message claims about itself, checked before a worker acts on it: its attempt
 * count, its time limits and Celerity's numeric headers must be in range, and its `reply_to`
 * must name a reply queue. The broker is trusted (docs/security.md), but a Celery peer with a
 * bug, or anyone who can publish on the vhost, must not make a worker run a task without end
 * (`retries: -1000`), lose a result the store refuses (`retries: 2**31`, `1.5`), or publish a
 * chosen payload into another application's queue (`reply_to`). A claim out of range makes the
 * message malformed: dead-lettered with the reason, never run.
 */
import { MAX_RETRIES_LIMIT, MAX_RETRIES_HEADER } from '../core/index.js';
import { PUBLISHED_AT_HEADER } from './queue-wait.js';
import { REPLY_QUEUE_PREFIX } from './topology.js';

/** Highest `retries` a message may claim: what the store's integer column holds. */
export const MAX_MESSAGE_RETRIES = 2 ** 31 - 1;

/** Latest publish time a date can hold, in ms since the epoch. */
const MAX_DATE_MS = 8.64e15;

/**
 * The reply queue of a Celery client's `rpc://` backend: kombu's `oid_from`, a UUID (version 3
 * or 5, lower case) that is the client's queue name and its `reply_to`.
 */
const CELERY_REPLY_QUEUE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** RabbitMQ's direct reply-to: it reaches only the publishing channel's own consumer. */
const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';

/**
 * A queue the broker named (an exclusive, auto-delete queue declared with an empty name): how
 * AMQP RPC clients other than Celery make their reply queue. Never an application's named
 * work queue.
 */
const SERVER_NAMED = 'amq.gen-';

/** The queues a worker replies to, in words (error messages and docs/celery.md). */
const REPLY_TO_RULE = `${REPLY_QUEUE_PREFIX}* (Celerity's gateway and Node client), a UUID (a Celery client's rpc:// backend), ${DIRECT_REPLY_TO}* or a server-named ${SERVER_NAMED}* queue`;

/** Whether a worker may publish a task's reply to `replyTo`. */
export function isReplyQueueName(replyTo: string): boolean {
  return (
    replyTo.startsWith(REPLY_QUEUE_PREFIX) || CELERY_REPLY_QUEUE.test(replyTo) || replyTo.startsWith(DIRECT_REPLY_TO) || replyTo.startsWith(SERVER_NAMED)
  );
}

function isWhole(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * Why the message's claims are out of range, or undefined when they are all in range. Absent
 * and null values are in range (each has its default).
 */
export function claimProblem(headers: Record<string, unknown>, replyTo: string | null): string | undefined {
  const retries = headers.retries;
  if (retries != null && !isWhole(retries, 0, MAX_MESSAGE_RETRIES)) {
    return `The retries header must be a whole number from 0 to ${MAX_MESSAGE_RETRIES}, got ${describe(retries)}`;
  }
  const timelimit = headers.timelimit;
  if (timelimit != null) {
    const limits: unknown[] | undefined = Array.isArray(timelimit) && timelimit.length <= 2 ? timelimit : undefined;
    // A limit past Node's longest timer is fine: the worker's timers clamp it.
    const bad = limits === undefined || limits.some((t) => t != null && !(typeof t === 'number' && Number.isFinite(t) && t >= 0));
    if (bad) return `The timelimit header must be [hard, soft], each null or a number of seconds from 0, got ${describe(timelimit)}`;
  }
  const maxRetries = headers[MAX_RETRIES_HEADER];
  if (maxRetries != null && !isWhole(maxRetries, 0, MAX_RETRIES_LIMIT)) {
    return `The ${MAX_RETRIES_HEADER} header must be a whole number from 0 to ${MAX_RETRIES_LIMIT}, got ${describe(maxRetries)}`;
  }
  const publishedAt = headers[PUBLISHED_AT_HEADER];
  if (publishedAt != null && !(typeof publishedAt === 'number' && publishedAt > 0 && publishedAt < MAX_DATE_MS)) {
    return `The ${PUBLISHED_AT_HEADER} header must be milliseconds since the epoch, got ${describe(publishedAt)}`;
  }
  if (replyTo !== null && !isReplyQueueName(replyTo)) {
    return `reply_to must name a reply queue, ${REPLY_TO_RULE}; got ${describe(replyTo)}`;
  }
  return undefined;
}

function describe(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'number' ? String(value) : typeof value === 'bigint' ? `${value}n` : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
