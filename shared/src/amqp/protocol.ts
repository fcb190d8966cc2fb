/**
 * Celery's message protocol v2 (as Celery's `app/amqp.py` writes it) and the result body of
 * its `rpc://` backend (`backends/rpc.py`), encoded and decoded here and nowhere else.
 *
 * A task message: properties `correlation_id` = task id, `reply_to`, content type JSON,
 * delivery mode 2; headers `lang`, `task`, `id`, `root_id`, `parent_id`, `group`, `retries`,
 * `eta`, `expires`, `timelimit` = [hard, soft] (Celery's code; its protocol doc has them the
 * other way round), `argsrepr`, `kwargsrepr`, `origin`, `ignore_result`; body
 * `[args, kwargs, {callbacks, errbacks, chain, chord}]`.
 */
import { hostname } from 'node:os';
import type { Options } from 'amqplib';
import { isTaskState, type TaskError, type TaskState } from '../task.js';

export const CONTENT_TYPE = 'application/json';
export const CONTENT_ENCODING = 'utf-8';
/** Longest `argsrepr`/`kwargsrepr` header, as Celery truncates them. */
const REPR_MAX = 1024;

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
}

export interface NewTask {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  replyTo?: string | null;
}

export function newTaskMessage(task: NewTask): TaskMessage {
  return {
    id: task.id,
    name: task.name,
    args: task.args,
    kwargs: task.kwargs,
    retries: 0,
    rootId: task.id,
    parentId: null,
    group: null,
    eta: null,
    expires: null,
    timelimit: [null, null],
    replyTo: task.replyTo ?? null,
    ignoreResult: false,
    origin: defaultOrigin(),
    priority: null,
  };
}

let origin: string | undefined;
function defaultOrigin(): string {
  origin ??= `${process.pid}@${hostname()}`;
  return origin;
}

function repr(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? 'undefined';
  } catch {
    text = '<unserialisable>';
  }
  return text.length > REPR_MAX ? `${text.slice(0, REPR_MAX - 3)}...` : text;
}

export interface EncodedMessage {
  content: Buffer;
  options: Options.Publish;
}

export function encodeTaskMessage(message: TaskMessage): EncodedMessage {
  const body = [message.args, message.kwargs, { callbacks: null, errbacks: null, chain: null, chord: null }];
  const options: Options.Publish = {
    correlationId: message.id,
    contentType: CONTENT_TYPE,
    contentEncoding: CONTENT_ENCODING,
    deliveryMode: 2,
    headers: {
      lang: 'py',
      task: message.name,
      id: message.id,
      shadow: null,
      eta: message.eta,
      expires: message.expires,
      group: message.group,
      group_index: null,
      retries: message.retries,
      timelimit: message.timelimit,
      root_id: message.rootId,
      parent_id: message.parentId,
      argsrepr: repr(message.args),
      kwargsrepr: repr(message.kwargs),
      origin: message.origin,
      ignore_result: message.ignoreResult,
    },
  };
  if (message.replyTo) options.replyTo = message.replyTo;
  if (message.priority !== null) options.priority = message.priority;
  return { content: Buffer.from(JSON.stringify(body), 'utf8'), options };
}

/** Why a delivery could not be read as a task message; `code` is stable. */
export class MessageFormatError extends Error {
  override readonly name = 'MessageFormatError';
  constructor(
    readonly code: 'NOT_JSON' | 'UNSUPPORTED_CONTENT_TYPE' | 'MISSING_HEADERS' | 'BAD_BODY',
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
    expires: stringOrNull(headers.expires),
    timelimit: [limitOrNull(timelimit[0]), limitOrNull(timelimit[1])],
    replyTo: stringOrNull(properties.replyTo),
    ignoreResult: headers.ignore_result === true,
    origin: stringOrNull(headers.origin),
    priority: typeof properties.priority === 'number' ? properties.priority : null,
  };
}

/** A task's outcome as the `rpc://` backend sends it on `reply_to`. */
export interface TaskOutcome {
  id: string;
  state: TaskState;
  result?: unknown;
  error?: TaskError | null;
  traceback?: string | null;
  finishedAt: Date;
  /** Celerity's additions; Celery ignores keys it does not know. */
  worker?: string | null;
  retries?: number;
  startedAt?: Date | null;
}

/** Celery's serialised exception: what `AsyncResult.get()` re-raises on the Python side. */
export interface CeleryException {
  exc_type: string;
  exc_message: unknown[];
  exc_module: string;
}

export function encodeResultBody(outcome: TaskOutcome): Buffer {
  const result: unknown =
    outcome.state === 'FAILURE'
      ? ({
          exc_type: outcome.error?.type ?? 'Error',
          exc_message: [outcome.error?.message ?? ''],
          exc_module: 'celerity',
        } satisfies CeleryException)
      : (outcome.result ?? null);
  return Buffer.from(
    JSON.stringify({
      task_id: outcome.id,
      status: outcome.state,
      result,
      traceback: outcome.traceback ?? null,
      children: [],
      date_done: outcome.finishedAt.toISOString(),
      worker: outcome.worker ?? null,
      retries: outcome.retries ?? 0,
      date_started: outcome.startedAt ? outcome.startedAt.toISOString() : null,
    }),
    'utf8',
  );
}

function parseDate(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function isCeleryException(value: unknown): value is CeleryException {
  return typeof value === 'object' && value !== null && typeof (value as { exc_type?: unknown }).exc_type === 'string';
}

/** Reads a reply from our workers or Celery's; `undefined` when it is not a result body. */
export function decodeResultBody(content: Buffer): TaskOutcome | undefined {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b.task_id !== 'string' || !isTaskState(b.status)) return undefined;
  const finishedAt = parseDate(b.date_done) ?? new Date();
  const outcome: TaskOutcome = {
    id: b.task_id,
    state: b.status,
    traceback: typeof b.traceback === 'string' ? b.traceback : null,
    finishedAt,
    worker: typeof b.worker === 'string' ? b.worker : null,
    retries: typeof b.retries === 'number' ? b.retries : 0,
    startedAt: parseDate(b.date_started) ?? null,
  };
  if (b.status === 'FAILURE' && isCeleryException(b.result)) {
    const message = Array.isArray(b.result.exc_message) ? b.result.exc_message.map(String).join(', ') : String(b.result.exc_message);
    outcome.error = { type: b.result.exc_type, message };
  } else {
    outcome.result = b.result;
  }
  return outcome;
}
