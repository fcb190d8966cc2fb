/**
 * Celery's message protocol v2 (as Celery's `app/amqp.py` writes it), encoded and decoded here
 * and nowhere else; the result body of its `rpc://` backend (`backends/rpc.py`) is in results.ts.
 *
 * A task message: properties `correlation_id` = task id, `reply_to`, content type JSON,
 * delivery mode 2; headers `lang`, `task`, `id`, `root_id`, `parent_id`, `group`, `retries`,
 * `eta`, `expires`, `timelimit` = [hard, soft] (Celery's code; its protocol doc has them the
 * other way round), `argsrepr`, `kwargsrepr`, `origin`, `ignore_result`; body
 * `[args, kwargs, {callbacks, errbacks, chain, chord}]`. When `expires` is set, the message also
 * carries the AMQP `expiration` property (a per-message TTL in milliseconds, as kombu writes it),
 * so the broker drops it once it is due; a worker that still receives an expired task marks it
 * REVOKED without running it, as Celery's worker does.
 */
import { hostname } from 'node:os';
import type { Options } from 'amqplib';
import { repr, unstorableTextReason, type HeaderFormat } from '../core/index.js';
import { claimProblem } from './message-claims.js';
import { isEmptyEmbed, readEmbed, WORKFLOW_HEADER, writeEmbed, type CanvasEmbed } from './canvas.js';

// Results (replies) are in results.ts; re-exported so importers of the protocol find them here.
;

export const CONTENT_TYPE = 'application/json';

/**
 * Header carrying the id of the API key that submitted a task (Celerity's gateway sets it;
 * Python clients do not), so the worker records the owner even when the gateway's own
 * PENDING row was never written. Whoever can publish on the broker can set it: broker access
 * is already full trust (docs/security.md).
 */
export const OWNER_HEADER = 'x-celerity-owner';
export const CONTENT_ENCODING = 'utf-8';

export interface TaskMessage {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  retries: number;
  rootId: string;
  parentId: string | null;
  group: string | null;
  eta: string | null;
  expires: string | null;
  /** [hard, soft] time limits in seconds, as Celery sends them. */
  timelimit: [number | null, number | null];
  replyTo: string | null;
  ignoreResult: boolean;
  origin: string | null;
  priority: number | null;
  /** Position in its group (Celery's `group_index` header). */
  groupIndex?: number | null;
  /** The body's embed (canvas.ts): callbacks, errbacks, chain, chord. Absent when all are empty. */
  embed?: CanvasEmbed;
  /** The Celerity workflow the task belongs to (canvas.ts, WORKFLOW_HEADER). */
  workflowId?: string;
}

/** Where a task sits in a canvas: its embed, workflow and group (workflow submits set them). */
export interface CanvasPlace {
  embed?: CanvasEmbed;
  workflowId?: string;
  group?: string;
  groupIndex?: number;
}

export interface NewTask {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  replyTo?: string | null;
  /** ISO 8601 date after which the task must not run (Celery's `expires`). */
  expires?: string | null;
  /** AMQP priority 0..255; only queues declared with `x-max-priority` honour it. */
  priority?: number | null;
  canvas?: CanvasPlace;
}

export function newTaskMessage(task: NewTask): TaskMessage {
  const canvas = task.canvas ?? {};
  return {
    id: task.id,
    name: task.name,
    args: task.args,
    kwargs: task.kwargs,
    retries: 0,
    rootId: task.id,
    parentId: null,
    group: canvas.group ?? null,
    ...(canvas.groupIndex !== undefined ? { groupIndex: canvas.groupIndex } : {}),
    ...(canvas.embed ? { embed: canvas.embed } : {}),
    ...(canvas.workflowId ? { workflowId: canvas.workflowId } : {}),
    eta: null,
    expires: task.expires ?? null,
    timelimit: [null, null],
    replyTo: task.replyTo ?? null,
    ignoreResult: false,
    origin: defaultOrigin(),
    priority: task.priority ?? null,
  };
}

let origin: string | undefined;
function defaultOrigin(): string {
  origin ??= `${process.pid}@${hostname()}`;
  return origin;
}

export interface EncodedMessage {
  content: Buffer;
  options: Options.Publish;
}

/**
 * Longest per-message TTL RabbitMQ takes, in ms (an unsigned 32-bit value, about 49.7 days);
 * a longer `expiration` is refused by the broker with a channel error.
 */
export const MAX_MESSAGE_TTL_MS = 2 ** 32 - 1;

/**
 * The AMQP `expiration` property for an `expires` date: milliseconds from `now`, as a decimal
 * string (kombu's `str(int(seconds * 1000))`), 0 when the date has passed (Celery does the same:
 * RabbitMQ then drops the message unless a consumer takes it at once); undefined when the date
 * is further than MAX_MESSAGE_TTL_MS.
 */
export function expirationFor(expires: string, now = Date.now()): string | undefined {
  const at = Date.parse(expires);
  if (Number.isNaN(at)) return undefined;
  const ttlMs = Math.max(0, Math.floor(at - now));
  // Never sent past the broker's limit: the `expires` header still says when, and a worker
  // that receives the task after it marks it REVOKED (the gateway refuses such dates anyway).
  return ttlMs > MAX_MESSAGE_TTL_MS ? undefined : String(ttlMs);
}

/** Whether a task's `expires` date has passed; a task without one never expires. */
export function isExpired(message: Pick<TaskMessage, 'expires'>, now = Date.now()): boolean {
  if (message.expires === null) return false;
  const at = Date.parse(message.expires);
  return !Number.isNaN(at) && at <= now;
}


/**
 * The message for `message`, with its headers as `format` says (HeaderFormat, core/names.ts):
 * `lean` carries only \`task\`, \`id\` and the headers that differ from what decodeTaskMessage
 * defaults them to (no \`lang\`, \`shadow\`, \`argsrepr\`, \`kwargsrepr\`, \`origin\`, no nulls).
 * A Celerity worker reads both alike; a Python Celery worker may refuse a lean one.
 */
export function encodeTaskMessage(message: TaskMessage, format: HeaderFormat = 'celery'): EncodedMessage {
  const body = [message.args, message.kwargs, writeEmbed(message.embed)];
  const options: Options.Publish = {
    correlationId: message.id,
    contentType: CONTENT_TYPE,
    contentEncoding: CONTENT_ENCODING,
    deliveryMode: 2,
    headers: format === 'lean' ? leanHeaders(message) : celeryHeaders(message),
  };
  if (message.replyTo) options.replyTo = message.replyTo;
  if (message.priority !== null) options.priority = message.priority;
  if (message.expires !== null) {
    const expiration = expirationFor(message.expires);
    if (expiration !== undefined) options.expiration = expiration;
  }
  return { content: Buffer.from(JSON.stringify(body), 'utf8'), options };
}

function celeryHeaders(message: TaskMessage): Record<string, unknown> {
  return {
    lang: 'py',
    task: message.name,
    id: message.id,
    shadow: null,
    eta: message.eta,
    expires: message.expires,
    group: message.group,
    group_index: message.groupIndex ?? null,
    retries: message.retries,
    timelimit: message.timelimit,
    root_id: message.rootId,
    parent_id: message.parentId,
    argsrepr: repr(message.args),
    kwargsrepr: repr(message.kwargs),
    origin: message.origin,
    ignore_result: message.ignoreResult,
    ...(message.workflowId ? { [WORKFLOW_HEADER]: message.workflowId } : {}),
  };
}

/** The headers decodeTaskMessage would not default to the same value (see HeaderFormat). */
function leanHeaders(message: TaskMessage): Record<string, unknown> {
  const headers: Record<string, unknown> = { task: message.name, id: message.id };
  if (message.eta !== null) headers.eta = message.eta;
  if (message.expires !== null) headers.expires = message.expires;
  if (message.group !== null) headers.group = message.group;
  if (message.groupIndex !== undefined) headers.group_index = message.groupIndex;
  if (message.retries !== 0) headers.retries = message.retries;
  if (message.timelimit[0] !== null || message.timelimit[1] !== null) headers.timelimit = message.timelimit;
  if (message.rootId !== message.id) headers.root_id = message.rootId;
  if (message.parentId !== null) headers.parent_id = message.parentId;
  if (message.ignoreResult) headers.ignore_result = true;
  if (message.workflowId) headers[WORKFLOW_HEADER] = message.workflowId;
  return headers;
}

/** Why a delivery could not be read as a task message; `code` is stable. */
export class MessageFormatError extends Error {
  override readonly name = 'MessageFormatError';
  constructor(
    readonly code: 'NOT_JSON' | 'UNSUPPORTED_CONTENT_TYPE' | 'MISSING_HEADERS' | 'BAD_BODY' | 'BAD_HEADER',
    message: string,
    readonly partial: { id?: string; name?: string } = {},
  ) {
    super(message);
  }
}

export interface IncomingProperties {
  contentType?: string | undefined;
  contentEncoding?: string | undefined;
  correlationId?: string | undefined;
  replyTo?: string | undefined;
  priority?: number | undefined;
  headers?: Record<string, unknown> | undefined;
}

/** Longest task id, in UTF-8 bytes: an AMQP short string (the correlation id). */
const MAX_TASK_ID_BYTES = 255;
/** Longest task name accepted from a message. */
const MAX_TASK_NAME_CHARS = 255;

function hasUnstorableText(text: string): boolean {
  return unstorableTextReason(text) !== undefined;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function limitOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export function decodeTaskMessage(content: Buffer, properties: IncomingProperties): TaskMessage {
  const headers = properties.headers ?? {};
  const id = stringOrNull(headers.id) ?? stringOrNull(properties.correlationId);
  const name = stringOrNull(headers.task);
  const partial = { ...(id ? { id } : {}), ...(name ? { name } : {}) };
  if (!id || !name) {
    throw new MessageFormatError('MISSING_HEADERS', 'Not a Celery protocol v2 task message: the `task` and `id` headers are required', partial);
  }
  // The id becomes the correlation id of every re-publish (an AMQP short string, at most 255
  // bytes) and a text key in the store: one that cannot be either is refused here, before a
  // publish fails on it over and over. Nothing is recorded under such an id.
  if (Buffer.byteLength(id) > MAX_TASK_ID_BYTES || hasUnstorableText(id) || hasUnstorableText(name) || name.length > MAX_TASK_NAME_CHARS) {
    throw new MessageFormatError('BAD_HEADER', `The task id must be at most ${MAX_TASK_ID_BYTES} bytes and the id and name valid text without U+0000`);
  }
  const contentType = properties.contentType ?? CONTENT_TYPE;
  if (contentType !== CONTENT_TYPE) {
    throw new MessageFormatError('UNSUPPORTED_CONTENT_TYPE', `Unsupported content type ${contentType}: only ${CONTENT_TYPE} is accepted`, partial);
  }
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch (err) {
    throw new MessageFormatError('NOT_JSON', `Message body is not valid JSON: ${(err as Error).message}`, partial);
  }
  if (!Array.isArray(body) || !Array.isArray(body[0]) || typeof body[1] !== 'object' || body[1] === null || Array.isArray(body[1])) {
    throw new MessageFormatError('BAD_BODY', 'Message body must be [args, kwargs, embed] (Celery protocol v2)', partial);
  }
  const timelimit = Array.isArray(headers.timelimit) ? (headers.timelimit as unknown[]) : [];
  const expires = stringOrNull(headers.expires);
  if (expires !== null && Number.isNaN(Date.parse(expires))) {
    // Celery's worker refuses such a message too (InvalidTaskError): running it could run a
    // task its sender wanted dropped.
    throw new MessageFormatError('BAD_HEADER', `The expires header is not an ISO 8601 date: ${JSON.stringify(expires)}`, partial);
  }
  // Attempt count, time limits, Celerity's numeric headers, reply_to: see message-claims.ts.
  const problem = claimProblem(headers, stringOrNull(properties.replyTo));
  if (problem !== undefined) throw new MessageFormatError('BAD_HEADER', problem, partial);
  const embed = readEmbed(body[2]);
  return {
    id,
    name,
    args: body[0] as unknown[],
    kwargs: body[1] as Record<string, unknown>,
    retries: typeof headers.retries === 'number' ? headers.retries : 0,
    rootId: stringOrNull(headers.root_id) ?? id,
    parentId: stringOrNull(headers.parent_id),
    group: stringOrNull(headers.group),
    eta: stringOrNull(headers.eta),
    expires,
    timelimit: [limitOrNull(timelimit[0]), limitOrNull(timelimit[1])],
    replyTo: stringOrNull(properties.replyTo),
    ignoreResult: headers.ignore_result === true,
    origin: stringOrNull(headers.origin),
    priority: typeof properties.priority === 'number' ? properties.priority : null,
    ...(typeof headers.group_index === 'number' ? { groupIndex: headers.group_index } : {}),
    ...(isEmptyEmbed(embed) ? {} : { embed }),
    ...(stringOrNull(headers[WORKFLOW_HEADER]) ? { workflowId: headers[WORKFLOW_HEADER] as string } : {}),
  };
}
