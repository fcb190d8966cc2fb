/**
 * The RPC reply path: one exclusive reply queue per process (gateway or client), declared on
 * every (re)connect, consumed without acks (replies are advisory: the result store holds the
 * truth, and a waiter whose reply is lost falls back to polling it). Several gateways and
 * clients therefore run side by side, each receiving only the replies to its own requests.
 *
 * The queue is named here (`celerity.reply.<uuid>`, a new one per connection), not by the
 * server, so that when the broker cancels the consumer (the queue was deleted by an operator,
 * or its node went down) the same queue is declared again and consumed: replies to tasks
 * already published with it, such as the results of Python Celery workers, still arrive.
 */
import { randomUUID } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import {
  declareReplyQueue,
  decodeResultBody,
  ManagedChannel,
  REPLY_QUEUE_PREFIX,
  type TaskOutcome,
} from '../broker/index.js';
import type { Broker } from '../broker/index.js';
import type { Logger } from '../core/index.js';
import { stamp } from '../core/index.js';

export class ReplyListener {
  readonly #logger: Logger;
  readonly #onOutcome: (outcome: TaskOutcome) => void;
  /** The reply queue's name on the current channel (a new one per channel, kept across cancels). */
  #queue = '';
  /** Set once `create` has opened it. */
  #managed: ManagedChannel | undefined;
  readonly #prefix: string;

  private constructor(logger: Logger, onOutcome: (outcome: TaskOutcome) => void, prefix: string) {
    this.#logger = logger;
    this.#onOutcome = onOutcome;
    this.#prefix = prefix;
  }

  /**
   * Declares the reply queue and starts consuming (again after every reconnect).
   * `queuePrefix`: start of the reply queue's name. @default 'celerity.reply.'
   */
  static async create(broker: Broker, options: { logger: Logger; onOutcome: (outcome: TaskOutcome) => void; queuePrefix?: string }): Promise<ReplyListener> {
    const listener = new ReplyListener(options.logger, options.onOutcome, options.queuePrefix ?? REPLY_QUEUE_PREFIX);
    const managed = await ManagedChannel.open(broker, {
      name: 'reply channel',
      logger: options.logger,
      // A new name per channel: the old connection's exclusive queue may linger on the broker
      // until it notices that connection is gone, and would refuse a second declare.
      setup: () => {
        listener.#queue = `${listener.#prefix}${randomUUID()}`;
        return Promise.resolve();
      },
      onReady: () => listener.#logger.debug('consuming replies', { replyQueue: listener.#queue }),
    });
    listener.#managed = managed;
    // Declared again under the same name after a broker cancel (ManagedChannel's cancel policy).
    await managed.consume((channel) => declareReplyQueue(channel, listener.#queue), (message) => listener.#onMessage(message), {
      noAck: true,
      exclusive: true,
      onCancel: (queue) => listener.#logger.warn('the broker cancelled the reply consumer; declaring the reply queue again', { replyQueue: queue }),
    });
    return listener;
  }

  /**
   * The queue to name in `reply_to`; undefined while disconnected. Kept while a cancelled
   * consumer is restored: the same queue is declared again, so replies to it still arrive.
   */
  get replyTo(): string | undefined {
    return this.#managed?.channel ? this.#queue : undefined;
  }

  /** How many times the consumer was restored after a broker-side cancel (tests, diagnostics). */
  get resubscribes(): number {
    return this.#managed?.resubscribes ?? 0;
  }

  #onMessage(message: ConsumeMessage): void {
    const outcome = decodeResultBody(message.content);
    if (!outcome) {
      this.#logger.warn('ignored a reply that is not a task result', {
        correlationId: message.properties.correlationId as unknown,
        bytes: message.content.length,
      });
      return;
    }
    stamp(outcome.id, 'reply.in');
    this.#onOutcome(outcome);
  }

  /** Stops consuming replies and closes the channel. Safe to call twice. */
  async close(): Promise<void> {
    await this.#managed?.close();
  }
}
