/**
 * The gateway's feed of what running tasks report (docs/events.md): a server-named, bounded
 * queue of its own bound to the task-events exchange, consumed without acks, its messages
 * handed to the streams of the task they name. Every gateway gets every message, so a stream
 * sees a task whichever gateway submitted it. Advisory: after a reconnect (when messages may
 * have been lost) every subscriber is told to catch up from the store.
 *
 * It consumes only while some stream listens: every task's reports and state hints would
 * otherwise cost each gateway a delivery per task. The first subscriber starts the consumer
 * (its queue is declared then, so subscribers catch up from the store once it is ready);
 * `IDLE_MS` after the last one left, the consumer is cancelled and its queue goes with it.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { ManagedChannel, applyTopology, taskFeedTopology, type Broker } from '../../../shared/src/broker/index.js';
import { decodeFeedMessage, type Logger, type TaskFeedMessage } from '../../../shared/src/core/index.js';

/** A message for the task, or `undefined`: catch up from the store (the feed was down). */
export type FeedListener = (message: TaskFeedMessage | undefined) => void;

/** How long the feed keeps consuming after its last listener left (streams come and go). */
const IDLE_MS = 10_000;

export class TaskFeed {
  readonly #logger: Logger;
  readonly #listeners = new Map<string, Set<FeedListener>>();
  #managed: ManagedChannel | undefined;
  /** The consumer while there are listeners (or until IDLE_MS after the last one). */
  #consuming: Promise<void> | undefined;
  /** The server-named queue the consumer reads now. */
  #queue: string | undefined;
  #idle: NodeJS.Timeout | undefined;

  private constructor(logger: Logger) {
    this.#logger = logger;
  }

  static async create(broker: Broker, options: { logger: Logger }): Promise<TaskFeed> {
    const feed = new TaskFeed(options.logger);
    feed.#managed = await ManagedChannel.open(broker, { name: 'task feed channel', logger: options.logger });
    return feed;
  }

  /** Consuming now (a listener, or one that left less than IDLE_MS ago). */
  get consuming(): boolean {
    return this.#consuming !== undefined;
  }

  /** Hands task `taskId`'s messages to `listener` until the returned function is called. */
  subscribe(taskId: string, listener: FeedListener): () => void {
    let set = this.#listeners.get(taskId);
    if (!set) this.#listeners.set(taskId, (set = new Set()));
    set.add(listener);
    clearTimeout(this.#idle);
    this.#idle = undefined;
    this.#consuming ??= this.#start();
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(taskId) === set) this.#listeners.delete(taskId);
      if (this.#listeners.size === 0 && !this.#idle) {
        this.#idle = setTimeout(() => this.#stop(), IDLE_MS);
        this.#idle.unref();
      }
    };
  }

  /** Tasks with at least one listener. */
  get tasks(): number {
    return this.#listeners.size;
  }

  /** Stops consuming and closes the channel. Safe to call twice. */
  async close(): Promise<void> {
    clearTimeout(this.#idle);
    await this.#managed?.close();
  }

  #start(): Promise<void> {
    const managed = this.#managed;
    if (!managed) return Promise.resolve();
    return managed
      .consume((channel) => this.#declare(channel), (message) => this.#onMessage(message), {
        noAck: true,
        onCancel: () => this.#logger.warn('the broker cancelled the task feed consumer; re-subscribing'),
      })
      .catch((err: unknown) => {
        // Advisory: the streams still catch up from the store (the ledger, NOTIFY); the next subscriber tries again.
        this.#logger.warn('could not consume the task feed; event streams read the store only', { err });
        this.#consuming = undefined;
      });
  }

  #stop(): void {
    this.#idle = undefined;
    const queue = this.#queue;
    if (this.#listeners.size > 0 || !queue) return;
    this.#consuming = undefined;
    this.#queue = undefined;
    // Auto-delete: the queue goes with its consumer.
    void this.#managed?.cancel(queue).catch((err: unknown) => this.#logger.warn('could not cancel the task feed consumer', { err }));
  }

  async #declare(channel: Channel): Promise<string> {
    const [queue] = await applyTopology(channel, taskFeedTopology());
    if (queue === undefined) throw new RangeError('the task feed topology declares no queue');
    this.#queue = queue;
    // A new queue (the first, or after a reconnect): what was published before it never reached us.
    queueMicrotask(() => this.#catchUpAll());
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
