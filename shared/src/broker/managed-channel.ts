/**
 * The one way Celerity opens AMQP channels. A `ManagedChannel` belongs to one owner (the
 * consumer, the publisher, the reply listener, the event publisher, the event monitor) and
 * does for it what each of them used to do by hand:
 *
 * - opens a channel (a confirm channel with `confirm: true`) on the broker connection, now and
 *   after every reconnect (it registers with `Broker.onConnect`);
 * - runs the owner's `setup` on every new channel before the channel counts as open — the
 *   place for declarations, prefetch, `consume` and extra listeners — so nothing is half set up;
 * - logs channel errors under the owner's name;
 * - after the server closed just the channel (a 404, a 406, a consumer it cancelled) opens a
 *   new one on the same connection, retrying a failed reopen with the broker's backoff
 *   (`Broker.reopenChannel`); after a lost connection the reconnect does it instead;
 * - owns its consumers (`consume`): subscribes them on every new channel after `setup`, keeps
 *   their consumer tags, re-subscribes one the broker cancelled (the cancel policy below), and
 *   `drain()` cancels them all while the channel stays open for the acks still to come;
 * - says whether a channel is still the live one (`isCurrent`): a delivery is acked, and run,
 *   only on the channel it came from;
 * - `close()` is idempotent and detaches first (the reconnect registration, then its own
 *   `close` listener) so that closing never triggers a reopen.
 *
 * The cancel policy (one for every owner): when the broker cancels a consumer (its queue was
 * deleted, or its node went down), the consumer's queue is declared again and consumed again on
 * the same channel, so deliveries of the owner's other queues in flight there stay ackable. If
 * that fails (the declaration is refused, the queue cannot come back yet), the channel is
 * closed and the reopen path takes over: a new channel, `setup`, every consumer subscribed
 * again, retried with the broker's backoff. Owners hear of a cancel through `onCancel`; none
 * handles it itself.
 *
 * A failing `setup` during a (re)connect fails that connection attempt, exactly like any other
 * connection setup: the broker reconnects, or stops for an irrecoverable error such as a
 * QueueMismatchError (see connection.ts).
 *
 * Short-lived channels (a passive check that a 404 may close, a declare that a 406 may close,
 * listing dead letters) use `openTransientChannel` / `withChannel` below instead: they are
 * never reopened, and the caller closes them.
 */
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { CelerityError } from '../core/index.js';
import type { Logger } from '../core/index.js';
import type { Broker, SetupFn } from './connection.js';

export interface ManagedChannelOptions<C extends Channel> {
  /** The owner, as it appears in log lines: `consumer channel`, `publish channel`. */
  name: string;
  logger: Logger;
  /**
   * Runs on every newly opened channel, before it becomes `channel`. @default nothing
   * A rejection on a reopen is retried with backoff; on a (re)connect it fails the connection.
   */
  setup?: (channel: C) => Promise<void>;
  /** Called once when the open channel is lost (closed by the server, or with its connection). @default nothing */
  onLost?: (channel: C) => void;
  /** Called each time a channel becomes the live one: set up, every consumer subscribed. @default nothing */
  onReady?: (channel: C) => void;
}

/**
 * What a consumer reads: a queue name (declared by `setup`), or a declaration that returns the
 * name to consume. The declaration runs before every subscribe (a new channel, a re-subscribe
 * after a cancel), so a deleted queue comes back.
 */
export type QueueSource<C extends Channel = Channel> = string | ((channel: C) => Promise<string>);

export interface ConsumeOptions {
  /** Deliveries are not acked (replies, events). @default false */
  noAck?: boolean;
  /** No other consumer on the queue. @default false */
  exclusive?: boolean;
  /** Told when the broker cancelled this consumer, before it is re-subscribed (see the cancel policy). @default nothing */
  onCancel?: (queue: string) => void;
}

/** A consumer's delivery handler; `channel` is the one the message came from (ack on it only). */
export type DeliveryHandler<C extends Channel = Channel> = (message: ConsumeMessage, channel: C) => void;

interface Consumer<C extends Channel> {
  source: QueueSource<C>;
  handler: DeliveryHandler<C>;
  options: ConsumeOptions;
  /** The channel it is subscribed on now, with its tag there; undefined when not subscribed. */
  subscribed: { channel: C; tag: string; queue: string } | undefined;
}

export class ManagedChannel<C extends Channel = Channel> {
  readonly #broker: Broker;
  readonly #options: ManagedChannelOptions<C>;
  readonly #create: (connection: ChannelModel) => Promise<C>;
  readonly #onConnect: SetupFn = (connection) => this.#open(connection);
  #channel: C | undefined;
  /** The channel being set up and subscribed, not yet `channel`. */
  #opening: C | undefined;
  /** The `close` listener this object put on `#channel`; removed by close(), other listeners stay. */
  #onChannelClose: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  readonly #consumers: Consumer<C>[] = [];
  /** drain() ran: no consumer is subscribed again, the channel stays for acks. */
  #drained = false;
  #resubscribes = 0;

  private constructor(broker: Broker, options: ManagedChannelOptions<C>, create: (connection: ChannelModel) => Promise<C>) {
    this.#broker = broker;
    this.#options = options;
    this.#create = create;
  }

  /** A plain channel, open (when the broker is connected) and set up when this resolves. */
  static async open(broker: Broker, options: ManagedChannelOptions<Channel>): Promise<ManagedChannel> {
    const managed = new ManagedChannel<Channel>(broker, options, (connection) => connection.createChannel());
    await broker.onConnect(managed.#onConnect);
    return managed;
  }

  /** A channel in confirm mode (publisher confirms), open and set up when this resolves. */
  static async openConfirm(broker: Broker, options: ManagedChannelOptions<ConfirmChannel>): Promise<ManagedChannel<ConfirmChannel>> {
    const managed = new ManagedChannel<ConfirmChannel>(broker, options, (connection) => connection.createConfirmChannel());
    await broker.onConnect(managed.#onConnect);
    return managed;
  }

  /** The open, set-up channel; undefined while reconnecting or reopening, and once closed. */
  get channel(): C | undefined {
    return this.#channel;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Whether `channel` is the live one: only there may a delivery from it run, or be acked. */
  isCurrent(channel: Channel): boolean {
    return channel === this.#channel || channel === this.#opening;
  }

  /** On a live channel with every consumer subscribed there (false while reopening, once drained or closed). */
  get consuming(): boolean {
    const channel = this.#channel;
    return channel !== undefined && !this.#drained && this.#consumers.every((c) => c.subscribed?.channel === channel);
  }

  /** How many consumers were re-subscribed after a broker cancel (tests, diagnostics). */
  get resubscribes(): number {
    return this.#resubscribes;
  }

  /**
   * Closes the current channel so that a new one is opened, set up and subscribed. Nothing
   * happens once closed.
   */
  reopen(): void {
    if (this.#closing) return;
    this.#channel?.close().catch(() => undefined);
  }

  /**
   * Consumes `queue` with `handler` now (when open) and on every new channel, until `drain()`
   * or `close()`. A broker cancel is handled by the cancel policy (top of this file).
   */
  async consume(queue: QueueSource<C>, handler: DeliveryHandler<C>, options: ConsumeOptions = {}): Promise<void> {
    if (this.#closing || this.#drained) throw new CelerityError('SHUTTING_DOWN', `The ${this.#options.name} is closed or draining: it takes no new consumer`);
    const consumer: Consumer<C> = { source: queue, handler, options, subscribed: undefined };
    this.#consumers.push(consumer);
    const channel = this.#channel;
    if (!channel) return;
    try {
      await this.#subscribe(channel, consumer);
    } catch (err) {
      // Rejected means not registered: the caller hears why (a QueueMismatchError at start).
      const i = this.#consumers.indexOf(consumer);
      if (i >= 0) this.#consumers.splice(i, 1);
      throw err;
    }
  }

  /**
   * Cancels every consumer and subscribes none again; the channel stays open (and current) so
   * that the deliveries in flight can still be acked. `close()` ends it. Safe to call twice.
   */
  async drain(): Promise<void> {
    this.#drained = true;
    const consumers = this.#consumers.splice(0);
    const channel = this.#channel;
    if (!channel) return;
    for (const consumer of consumers) {
      const subscribed = consumer.subscribed;
      consumer.subscribed = undefined;
      if (subscribed?.channel === channel) await channel.cancel(subscribed.tag).catch(() => undefined);
    }
  }

  /** Stops consuming `queue`, now and on later channels; the channel stays for the acks in flight. */
  async cancel(queue: string): Promise<void> {
    for (const consumer of this.#consumers.filter((c) => c.source === queue || c.subscribed?.queue === queue)) {
      this.#consumers.splice(this.#consumers.indexOf(consumer), 1);
      const subscribed = consumer.subscribed;
      consumer.subscribed = undefined;
      if (subscribed && this.isCurrent(subscribed.channel)) await subscribed.channel.cancel(subscribed.tag).catch(() => undefined);
    }
  }

  async #subscribe(channel: C, consumer: Consumer<C>): Promise<void> {
    const queue = typeof consumer.source === 'string' ? consumer.source : await consumer.source(channel);
    const { noAck = false, exclusive = false } = consumer.options;
    const { consumerTag } = await channel.consume(
      queue,
      (message) => (message ? consumer.handler(message, channel) : this.#onCancelled(channel, consumer, queue)),
      { noAck, exclusive },
    );
    consumer.subscribed = { channel, tag: consumerTag, queue };
  }

  /** The cancel policy: declare and consume again on the same channel; failing that, reopen the channel. */
  #onCancelled(channel: C, consumer: Consumer<C>, queue: string): void {
    if (consumer.subscribed?.channel === channel) consumer.subscribed = undefined;
    // Drained or closed (a cancel we asked for), or a channel no longer live: nothing to restore.
    if (this.#closing || !this.#consumers.includes(consumer) || !this.isCurrent(channel)) return;
    this.#options.logger.warn(`the broker cancelled a consumer on the ${this.#options.name}; declaring its queue again`, { queue });
    consumer.options.onCancel?.(queue);
    this.#subscribe(channel, consumer).then(
      () => {
        this.#resubscribes++;
        this.#options.logger.info(`consuming again on the ${this.#options.name}`, { queue: consumer.subscribed?.queue });
      },
      (err: unknown) => {
        this.#options.logger.error(`could not consume again on the ${this.#options.name}; reopening it`, { queue, err });
        if (this.isCurrent(channel)) channel.close().catch(() => undefined);
      },
    );
  }

  async #open(connection: ChannelModel): Promise<void> {
    if (this.#closing) return;
    const channel = await this.#create(connection);
    channel.on('error', (err: Error) => this.#options.logger.warn(`${this.#options.name} error`, { err }));
    const onChannelClose = (): void => this.#onClose(connection, channel);
    channel.on('close', onChannelClose);
    // Deliveries may arrive as soon as the first consumer is subscribed, before the channel is
    // `channel`: they belong to it, so it counts as current (for them) from here on.
    this.#opening = channel;
    try {
      await this.#options.setup?.(channel);
      for (const consumer of this.#consumers) await this.#subscribe(channel, consumer);
    } catch (err) {
      // Usually the server already closed the channel (a 406 on a declare); if not, this one
      // is abandoned. Its close listener sees a channel that was never `channel`: no reopen.
      await channel.close().catch(() => undefined);
      throw err;
    } finally {
      if (this.#opening === channel) this.#opening = undefined;
    }
    if (this.#closing) {
      // close() ran while this channel was being set up: it must not outlive its owner.
      await channel.close().catch(() => undefined);
      return;
    }
    this.#channel = channel;
    this.#onChannelClose = onChannelClose;
    this.#options.onReady?.(channel);
  }

  #onClose(connection: ChannelModel, channel: C): void {
    if (this.#opening === channel) {
      // Lost while being set up: #open fails and the reopen path (or the reconnect) takes over.
      // It never was the open channel, so `onLost` is not told; a delivery that came on it is
      // no longer current and does not run.
      this.#opening = undefined;
      return;
    }
    if (this.#channel !== channel) return;
    this.#channel = undefined;
    for (const consumer of this.#consumers) if (consumer.subscribed?.channel === channel) consumer.subscribed = undefined;
    this.#options.onLost?.(channel);
    if (!this.#closing) this.#broker.reopenChannel(connection, this.#options.name, (live) => this.#open(live));
  }

  /** Stops reopening and closes the channel. Safe to call twice: the second caller gets the same promise. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Detach first: neither a reconnect nor the channel's own close may open it again.
      this.#broker.offConnect(this.#onConnect);
      const channel = this.#channel;
      this.#channel = undefined;
      if (!channel) return;
      // Only our own listener: an owner's (a publish waiting for `drain` or `close`) still hears the close.
      if (this.#onChannelClose) channel.off('close', this.#onChannelClose);
      try {
        await channel.close();
      } catch (err) {
        this.#options.logger.debug(`${this.#options.name} already closed`, { err });
      }
    })();
    return this.#closing;
  }
}

/**
 * A channel that lives for one job and is never reopened: the caller closes it. A channel-level
 * error (a 404 on a passive check, a 406 on a declare) also rejects the pending operation,
 * which is what the caller sees; the listener here only keeps the `error` event from being
 * unhandled.
 */
export async function openTransientChannel(connection: ChannelModel, options: { confirm: true }): Promise<ConfirmChannel>;
export async function openTransientChannel(connection: ChannelModel, options?: { confirm?: false }): Promise<Channel>;
export async function openTransientChannel(connection: ChannelModel, options: { confirm?: boolean } = {}): Promise<Channel> {
  const channel = options.confirm ? await connection.createConfirmChannel() : await connection.createChannel();
  channel.on('error', () => undefined);
  return channel;
}

/** Runs `fn` on a transient channel and closes it afterwards, whatever `fn` did. */
export async function withChannel<T>(connection: ChannelModel, fn: (channel: Channel) => Promise<T>): Promise<T> {
  const channel = await openTransientChannel(connection);
  try {
    return await fn(channel);
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/**
 * Runs `fn` for each item on one transient channel, in order. A server-side error (a 404 on a
 * passive check or a declare, a refused declare) closes that channel: `onError` hears of it and
 * either throws (which stops the run) or returns, and the run goes on with a new channel.
 */
export async function eachOnTransientChannel<T>(
  connection: ChannelModel,
  items: Iterable<T>,
  fn: (channel: Channel, item: T) => Promise<void>,
  onError: (item: T, err: unknown) => void,
): Promise<void> {
  let channel: Channel | undefined;
  try {
    for (const item of items) {
      channel ??= await openTransientChannel(connection);
      try {
        await fn(channel, item);
      } catch (err) {
        // The error closed this channel (a channel-level error) or it is no use to go on with.
        const closing = channel;
        channel = undefined;
        await closing.close().catch(() => undefined);
        onError(item, err);
      }
    }
  } finally {
    await channel?.close().catch(() => undefined);
  }
}
