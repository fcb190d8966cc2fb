/**
 * Celery's remote control ("pidbox", kombu/pidbox.py and celery/app/control.py), the wire format
 * both sides share. A caller publishes a JSON command to the fanout exchange `celery.pidbox`:
 *
 *   {"method": "ping", "arguments": {}, "destination": ["celery@a"] | null,
 *    "pattern": null, "matcher": null, "ticket": "<uuid>",
 *    "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "<oid>"}}
 *
 * with headers `clock` (a Lamport clock) and `expires` (seconds since the epoch, 0 = never).
 * Every worker's queue `<hostname>.celery.pidbox` gets a copy; a worker acts when `destination`
 * is empty or names it, and, when `reply_to` is there, publishes `{"<hostname>": <reply>}` to
 * that exchange and routing key with header `ticket`. A reply is a command's value, or
 * `{"ok": text}` / `{"error": text}` (celery/worker/control.py's `ok()` and `nok()`).
 */
export const PIDBOX_EXCHANGE = 'celery.pidbox';
export const PIDBOX_REPLY_EXCHANGE = 'reply.celery.pidbox';

/**
 * kombu's queue arguments under Celery's defaults: `control_queue_ttl` 300 s
 * (`x-message-ttl`) and `control_queue_expires` 10 s (`x-expires`), for the worker's queue and
 * the caller's reply queue alike. A queue declared with other values is refused (406) when
 * Python declares it, so these are constants.
 */
export const PIDBOX_QUEUE_ARGUMENTS: Readonly<Record<string, unknown>> = { 'x-message-ttl': 300_000, 'x-expires': 10_000 };

export function pidboxQueueName(hostname: string): string {
  return `${hostname}.celery.pidbox`;
}

export function pidboxReplyQueueName(oid: string): string {
  return `${oid}.${PIDBOX_REPLY_EXCHANGE}`;
}

/** Where a caller wants the reply. */
interface ReplyTo {
  exchange: string;
  routingKey: string;
}

/** A control command as a worker reads it. */
export interface ControlRequest {
  method: string;
  arguments: Record<string, unknown>;
  /** Worker names; undefined = every worker. */
  destination: string[] | undefined;
  /** Present when the caller waits for replies. */
  replyTo: ReplyTo | undefined;
  ticket: string | undefined;
  /** Seconds since the epoch after which the caller no longer listens; undefined = never. */
  expires: number | undefined;
}

export type DecodedControl = { ok: true; request: ControlRequest } | { ok: false; reason: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a pidbox message. Anything that is not the shape above is `{ ok: false, reason }`: the
 * worker logs it and drops it (the queue's consumer does not ack, so nothing is redelivered).
 */
export function decodeControlMessage(content: Buffer, headers: Record<string, unknown> | undefined): DecodedControl {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    return { ok: false, reason: 'the body is not JSON' };
  }
  if (!isObject(body)) return { ok: false, reason: 'the body is not a JSON object' };
  const { method, arguments: args, destination, reply_to: replyTo, ticket } = body;
  if (typeof method !== 'string' || method === '') return { ok: false, reason: '"method" is not a non-empty string' };
  if (args !== undefined && args !== null && !isObject(args)) return { ok: false, reason: '"arguments" is not an object' };
  if (destination !== undefined && destination !== null && !(Array.isArray(destination) && destination.every((d) => typeof d === 'string'))) {
    return { ok: false, reason: '"destination" is not a list of worker names' };
  }
  let reply: ReplyTo | undefined;
  if (replyTo !== undefined && replyTo !== null) {
    if (!isObject(replyTo) || typeof replyTo.exchange !== 'string' || typeof replyTo.routing_key !== 'string') {
      return { ok: false, reason: '"reply_to" is not {exchange, routing_key}' };
    }
    reply = { exchange: replyTo.exchange, routingKey: replyTo.routing_key };
  }
  if (ticket !== undefined && ticket !== null && typeof ticket !== 'string') return { ok: false, reason: '"ticket" is not a string' };
  const expires = headers?.expires;
  return {
    ok: true,
    request: {
      method,
      arguments: args ?? {},
      destination: destination && destination.length > 0 ? destination : undefined,
      replyTo: reply,
      ticket: ticket ?? undefined,
      expires: typeof expires === 'number' && expires > 0 ? expires : undefined,
    },
  };
}

/** Whether the command is for the worker named `hostname` (kombu's `Node.handle_message`). */
export function isForWorker(request: ControlRequest, hostname: string): boolean {
  return request.destination === undefined || request.destination.includes(hostname);
}

export interface ControlCommand {
  method: string;
  arguments?: Record<string, unknown>;
  destination?: readonly string[];
}

/** The body a caller publishes; `reply` carries the ticket and reply address when it waits for replies. */
export function encodeControlMessage(command: ControlCommand, reply?: { ticket: string; oid: string }): Buffer {
  return Buffer.from(
    JSON.stringify({
      method: command.method,
      arguments: command.arguments ?? {},
      destination: command.destination && command.destination.length > 0 ? [...command.destination] : null,
      pattern: null,
      matcher: null,
      ...(reply ? { ticket: reply.ticket, reply_to: { exchange: PIDBOX_REPLY_EXCHANGE, routing_key: reply.oid } } : {}),
    }),
  );
}
