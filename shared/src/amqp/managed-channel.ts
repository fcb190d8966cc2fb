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
 * - `close()` is idempotent and detaches first (the reconnect registration, then its own
 *   `close` listener) so that closing never triggers a reopen.
 *
 * A failing `setup` during a (re)connect fails that connection attempt, exactly like any other
 * connection setup: the broker reconnects, or stops for an irrecoverable error such as a
 * QueueMismatchError (see connection.ts).
 *
 * Short-lived channels (a passive check that a 404 may close, a declare that a 406 may close,
 * listing dead letters) use `openTransientChannel` / `withChannel` below instead: they are
 * never reopened, and the caller closes them.
 */
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from '../logger.js';
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
}

export class ManagedChannel<C extends Channel = Channel> {
  readonly #broker: Broker;
  readonly #options: ManagedChannelOptions<C>;
  readonly #create: (connection: ChannelModel) => Promise<C>;
  readonly #onConnect: SetupFn = (connection) => this.#open(connection);
  #channel: C | undefined;
  /** The `close` listener this object put on `#channel`; removed by close(), other listeners stay. */
  #onChannelClose: (() => void) | undefined;
  #closing: Promise<void> | undefined;

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

  /**
   * Closes the current channel so that a new one is opened and set up: what an owner does when
   * the broker cancelled its consumer (the queue was deleted) and the queue must be declared
   * again. Nothing happens once closed.
   */
  reopen(): void {
    if (this.#closing) return;
    this.#channel?.close().catch(() => undefined);
  }

  async #open(connection: ChannelModel): Promise<void> {
    if (this.#closing) return;
    const channel = await this.#create(connection);
    channel.on('error', (err: Error) => this.#options.logger.warn(`${this.#options.name} error`, { err }));
    const onChannelClose = (): void => this.#onClose(connection, channel);
    channel.on('close', onChannelClose);
    try {
      await this.#options.setup?.(channel);
    } catch (err) {
      // Usually the server already closed the channel (a 406 on a declare); if not, this one
      // is abandoned. Its close listener sees a channel that was never `channel`: no reopen.
      await channel.close().catch(() => undefined);
      throw err;
    }
    if (this.#closing) {
      // close() ran while this channel was being set up: it must not outlive its owner.
      await channel.close().catch(() => undefined);
      return;
    }
    this.#channel = channel;
    this.#onChannelClose = onChannelClose;
  }

  #onClose(connection: ChannelModel, channel: C): void {
    if (this.#channel !== channel) return;
    this.#channel = undefined;
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
