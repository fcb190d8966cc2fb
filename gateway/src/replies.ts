/**
 * The RPC reply path: one exclusive, server-named reply queue per gateway process, declared
 * on every (re)connect, consumed without acks (replies are advisory: the result store holds
 * the truth, and a waiter whose reply is lost falls back to polling it). Several gateways
 * therefore run side by side, each receiving only the replies to its own requests.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { declareReplyQueue, decodeResultBody, type Broker, type Logger, type TaskOutcome } from '../../shared/src/index.js';

export class ReplyListener {
  readonly #broker: Broker;
  readonly #logger: Logger;
  readonly #onOutcome: (outcome: TaskOutcome) => void;
  #queue: string | undefined;
  #channel: Channel | undefined;
  #closed = false;

  private constructor(broker: Broker, logger: Logger, onOutcome: (outcome: TaskOutcome) => void) {
    this.#broker = broker;
    this.#logger = logger;
    this.#onOutcome = onOutcome;
  }

  static async create(broker: Broker, options: { logger: Logger; onOutcome: (outcome: TaskOutcome) => void }): Promise<ReplyListener> {
    const listener = new ReplyListener(broker, options.logger, options.onOutcome);
    await broker.onConnect((connection) => listener.#setup(connection));
    return listener;
  }

  /** The queue to name in `reply_to`; undefined while disconnected. */
  get replyTo(): string | undefined {
    return this.#queue;
  }

  async #setup(connection: ChannelModel): Promise<void> {
    const channel = await connection.createChannel();
    channel.on('error', (err: Error) => this.#logger.warn('reply channel error', { err }));
    channel.on('close', () => {
      if (this.#channel !== channel) return;
      this.#channel = undefined;
      this.#queue = undefined;
      if (!this.#closed) this.#broker.reopenChannel(connection, 'reply queue', (live) => this.#setup(live));
    });
    const queue = await declareReplyQueue(channel);
    await channel.consume(queue, (message) => this.#onMessage(message), { noAck: true, exclusive: true });
    this.#channel = channel;
    this.#queue = queue;
    this.#logger.debug('consuming replies', { replyQueue: queue });
  }

  #onMessage(message: ConsumeMessage | null): void {
    if (!message) {
      this.#logger.warn('the broker cancelled the reply consumer');
      return;
    }
    const outcome = decodeResultBody(message.content);
    if (!outcome) {
      this.#logger.warn('ignored a reply that is not a task result', {
        correlationId: message.properties.correlationId as unknown,
        bytes: message.content.length,
      });
      return;
    }
    this.#onOutcome(outcome);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const channel = this.#channel;
    this.#channel = undefined;
    this.#queue = undefined;
    await channel?.close().catch(() => undefined);
  }
}
