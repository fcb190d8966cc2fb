/**
 * The gateway's feed of what running tasks report (docs/events.md): a server-named, bounded
 * queue of its own bound to the task-events exchange, consumed without acks, its messages
 * handed to the streams of the task they name. Every gateway gets every message, so a stream
 * sees a task whichever gateway submitted it. Advisory: after a reconnect (when messages may
 * have been lost) every subscriber is told to catch up from the store.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { ManagedChannel, applyTopology, taskFeedTopology, type Broker } from '../../../shared/src/broker/index.js';
import { decodeFeedMessage, type Logger, type TaskFeedMessage } from '../../../shared/src/core/index.js';

/** A message for the task, or `undefined`: catch up from the store (the feed was down). */
export type FeedListener = (message: TaskFeedMessage | undefined) => void;

export class TaskFeed {
  readonly #logger: Logger;
  readonly #listeners = new Map<string, Set<FeedListener>>();
  #managed: ManagedChannel | undefined;
  #subscribedOnce = false;

  private constructor(logger: Logger) {
    this.#logger = logger;
  }

  static async create(broker: Broker, options: { logger: Logger }): Promise<TaskFeed> {
    const feed = new TaskFeed(options.logger);
    const managed = await ManagedChannel.open(broker, { name: 'task feed channel', logger: options.logger });
    feed.#managed = managed;
    await managed.consume((channel) => feed.#declare(channel), (message) => feed.#onMessage(message), {
      noAck: true,
      onCancel: () => options.logger.warn('the broker cancelled the task feed consumer; re-subscribing'),
    });
    return feed;
  }

  /** Hands task `taskId`'s messages to `listener` until the returned function is called. */
  subscribe(taskId: string, listener: FeedListener): () => void {
    let set = this.#listeners.get(taskId);
    if (!set) this.#listeners.set(taskId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(taskId) === set) this.#listeners.delete(taskId);
    };
  }

  /** Tasks with at least one listener. */
  get tasks(): number {
    return this.#listeners.size;
  }

  /** Stops consuming and closes the channel. Safe to call twice. */
  async close(): Promise<void> {
    await this.#managed?.close();
  }

  async #declare(channel: Channel): Promise<string> {
    const [queue] = await applyTopology(channel, taskFeedTopology());
    if (queue === undefined) throw new RangeError('the task feed topology declares no queue');
    // A new queue after a reconnect: what was published meanwhile never reached us.
    if (this.#subscribedOnce) queueMicrotask(() => this.#catchUpAll());
    this.#subscribedOnce = true;
    return queue;
  }

  #onMessage(message: ConsumeMessage): void {
    const decoded = decodeFeedMessage(message.content);
    if (!decoded) {
      this.#logger.debug('ignoring a message on the task-events exchange that is not a task event', { routingKey: message.fields.routingKey });
      return;
    }
    const listeners = this.#listeners.get(decoded.taskId);
    if (!listeners) return;
    for (const listener of [...listeners]) this.#tell(listener, decoded);
  }

  #catchUpAll(): void {
    for (const listeners of this.#listeners.values()) for (const listener of [...listeners]) this.#tell(listener, undefined);
  }

  #tell(listener: FeedListener, message: TaskFeedMessage | undefined): void {
    try {
      listener(message);
    } catch (err) {
      this.#logger.warn('a task feed listener threw', { err });
    }
  }
}
