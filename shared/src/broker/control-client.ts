/**
 * The caller's side of Celery's remote control (pidbox.ts): what `celerity inspect`,
 * `celerity control` and the gateway's worker admin use, as kombu's `Mailbox` is for Python.
 * One reply queue per client (`<oid>.reply.celery.pidbox`, declared again after a reconnect);
 * each call gets a ticket and collects the replies carrying it until `timeoutMs` or, with a
 * `destination`, until every named worker answered. A worker that is gone simply never answers:
 * the call ends at its timeout with the replies it got (maybe none), never hangs.
 */
import { randomUUID } from 'node:crypto';
import { CelerityError, jsonObjectOf, type Logger } from '../core/index.js';
import { applyTopology } from './apply-topology.js';
import type { Broker } from './connection.js';
import { ManagedChannel } from './managed-channel.js';
import { CONTENT_ENCODING, CONTENT_TYPE } from './protocol.js';
import { encodeControlMessage, PIDBOX_EXCHANGE, pidboxReplyQueueName, type ControlCommand } from './pidbox.js';
import { pidboxReplyTopology } from './topology.js';

/** One worker's reply: `{ "<worker name>": <reply> }`, as Celery's `broadcast(reply=True)` returns each. */
export type ControlReply = Record<string, unknown>;

interface Pending {
  timer?: NodeJS.Timeout;
  replies: ControlReply[];
  limit: number | undefined;
  done: () => void;
}

export class ControlClient {
  readonly #oid = randomUUID();
  readonly #pending = new Map<string, Pending>();
  #managed: ManagedChannel | undefined;
  #clock = 0;

  private constructor() {}

  /** Opens the reply channel (and declares the exchanges and the reply queue). */
  static async create(broker: Broker, options: { logger: Logger }): Promise<ControlClient> {
    const client = new ControlClient();
    const managed = await ManagedChannel.open(broker, {
      name: 'control channel',
      logger: options.logger,
      setup: (channel) => applyTopology(channel, pidboxReplyTopology(client.#oid)).then(() => undefined),
    });
    client.#managed = managed;
    await managed.consume(pidboxReplyQueueName(client.#oid), (message) => client.#onReply(message.content, message.properties.headers), { noAck: true });
    return client;
  }

  #onReply(content: Buffer, headers: Record<string, unknown> | undefined): void {
    const ticket = headers?.ticket;
    const pending = typeof ticket === 'string' ? this.#pending.get(ticket) : undefined;
    if (!pending) return; // a late reply to a call that has ended
    const body = jsonObjectOf(content);
    if (!body) return;
    pending.replies.push(body);
    if (pending.limit !== undefined && pending.replies.length >= pending.limit) pending.done();
  }

  #publish(body: Buffer, expiresS: number): void {
    const channel = this.#managed?.channel;
    if (!channel) throw new CelerityError('BROKER_UNAVAILABLE', 'Not connected to RabbitMQ: the control command was not sent', { retryAfterS: 2 });
    channel.publish(PIDBOX_EXCHANGE, '', body, {
      contentType: CONTENT_TYPE,
      contentEncoding: CONTENT_ENCODING,
      deliveryMode: 1,
      headers: { clock: ++this.#clock, expires: expiresS },
    });
  }

  /**
   * Sends `command` and collects replies for `timeoutMs` (or until each worker in
   * `command.destination` answered). Resolves with the replies, in arrival order.
   */
  async call(command: ControlCommand, timeoutMs: number): Promise<ControlReply[]> {
    const ticket = randomUUID();
    const limit = command.destination && command.destination.length > 0 ? command.destination.length : undefined;
    return new Promise<ControlReply[]>((resolve, reject) => {
      const pending: Pending = {
        replies: [],
        limit,
        done: () => {
          clearTimeout(pending.timer);
          this.#pending.delete(ticket);
          resolve(pending.replies);
        },
      };
      this.#pending.set(ticket, pending);
      try {
        this.#publish(encodeControlMessage(command, { ticket, oid: this.#oid }), (Date.now() + timeoutMs) / 1000);
      } catch (err) {
        this.#pending.delete(ticket);
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      pending.timer = setTimeout(pending.done, timeoutMs);
    });
  }

  /** Sends `command` without waiting for any reply (Celery's `reply=False`). */
  cast(command: ControlCommand): void {
    this.#publish(encodeControlMessage(command), 0);
  }

  /** Ends the calls in flight (with what they have) and closes the channel. Safe to call twice. */
  async close(): Promise<void> {
    for (const pending of [...this.#pending.values()]) pending.done();
    await this.#managed?.close();
  }
}
