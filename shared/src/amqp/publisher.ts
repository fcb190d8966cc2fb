/**
 * Publishing with publisher confirms. `publish()` resolves only when the broker has
 * confirmed the message (it is then on disk for a durable queue), so a caller may promise
 * that the task will run. The number of unconfirmed messages is bounded; past the bound,
 * callers wait (bounded in time) instead of growing a buffer. When the channel's write
 * buffer is full (`publish()` returned false), later publishes wait for `drain`.
 *
 * Messages are published `mandatory`: one that no queue takes is returned by the broker
 * (always before its confirm), and that publish fails with QUEUE_UNAVAILABLE.
 */
import type { ConfirmChannel, Options } from 'amqplib';
import { CelerityError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Broker } from './connection.js';
import { ManagedChannel } from './managed-channel.js';

export interface PublisherOptions {
  logger: Logger;
  /** Most messages awaiting a confirm at once. @default 1000 */
  maxUnconfirmed?: number;
  /** How long one publish may wait for a window slot plus its confirm, in ms. @default 10000 */
  confirmTimeoutMs?: number;
  /** Runs on every new channel before publishing resumes (topology declarations). */
  setup?: (channel: ConfirmChannel) => Promise<void>;
}

/** `Retry-After` suggested to HTTP callers when the broker cannot take a message. */
const RETRY_AFTER_S = 2;

export class Publisher {
  readonly #broker: Broker;
  readonly #options: Required<Omit<PublisherOptions, 'setup'>> & Pick<PublisherOptions, 'setup'>;
  /** Set once `create` has opened it. */
  #managed: ManagedChannel<ConfirmChannel> | undefined;
  #unconfirmed = 0;
  readonly #slotWaiters: (() => void)[] = [];
  #drained: Promise<void> | undefined;
  #closed = false;
  /**
   * Messages in flight by correlation id, oldest first, each with whether the broker returned
   * it. A list, not a flag: two publishes may share an id (a task and its retry), and the
   * broker sends a message's return before its confirm, in publish order, so a return belongs
   * to the oldest unconfirmed publish of its id.
   */
  readonly #inFlight = new Map<string, { returned: boolean }[]>();

  private constructor(broker: Broker, options: PublisherOptions) {
    this.#broker = broker;
    this.#options = { maxUnconfirmed: 1000, confirmTimeoutMs: 10_000, ...options };
  }

  static async create(broker: Broker, options: PublisherOptions): Promise<Publisher> {
    const publisher = new Publisher(broker, options);
    publisher.#managed = await ManagedChannel.openConfirm(broker, {
      name: 'publish channel',
      logger: options.logger,
      setup: (channel) => publisher.#setup(channel),
    });
    return publisher;
  }

  /** The live confirm channel, for topology declarations made through the publisher. */
  get channel(): ConfirmChannel | undefined {
    return this.#managed?.channel;
  }

  get unconfirmed(): number {
    return this.#unconfirmed;
  }

  async #setup(channel: ConfirmChannel): Promise<void> {
    channel.on('return', (message: { properties: { correlationId?: string } }) => {
      const id = message.properties.correlationId;
      const oldest = id === undefined ? undefined : this.#inFlight.get(id)?.find((p) => !p.returned);
      if (oldest) oldest.returned = true;
    });
    if (this.#options.setup) await this.#options.setup(channel);
    this.#drained = undefined;
  }

  /**
   * Publishes and waits for the broker's confirm; rejects with BROKER_UNAVAILABLE otherwise,
   * or QUEUE_UNAVAILABLE when no queue took the message. `options.correlationId` is required:
   * it identifies a returned message.
   */
  async publish(exchange: string, routingKey: string, content: Buffer, options: Options.Publish & { correlationId: string }): Promise<void> {
    if (this.#closed) throw new CelerityError('SHUTTING_DOWN', 'The publisher is closed');
    const deadline = Date.now() + this.#options.confirmTimeoutMs;
    if (this.#broker.blocked) {
      throw new CelerityError('BROKER_UNAVAILABLE', 'The broker is refusing new messages (resource alarm)', { retryAfterS: RETRY_AFTER_S });
    }
    await this.#acquireSlot(deadline);
    try {
      if (this.#drained) await withDeadline(this.#drained, deadline, 'waiting for the publish buffer to drain');
      const channel = this.channel;
      if (!channel) throw unavailable('not connected to the broker');
      const id = options.correlationId;
      const entry = { returned: false };
      const sameId = this.#inFlight.get(id);
      if (sameId) sameId.push(entry);
      else this.#inFlight.set(id, [entry]);
      const settle = (): boolean => {
        const list = this.#inFlight.get(id);
        const i = list?.indexOf(entry) ?? -1;
        if (list && i >= 0) list.splice(i, 1);
        if (list?.length === 0) this.#inFlight.delete(id);
        return entry.returned;
      };
      await withDeadline(
        new Promise<void>((resolve, reject) => {
          let ok: boolean;
          try {
            ok = channel.publish(exchange, routingKey, content, { ...options, mandatory: true }, (err: unknown) => {
              const returned = settle();
              if (err) reject(unavailable('the broker did not accept the message', err));
              else if (returned) {
                reject(
                  new CelerityError('QUEUE_UNAVAILABLE', `No queue took the message (routing key "${routingKey}"): the queue does not exist`, {
                    retryAfterS: RETRY_AFTER_S,
                  }),
                );
              } else resolve();
            });
          } catch (err) {
            // Thrown before anything was sent (channel closing, a header table too large).
            settle();
            reject(unavailable('the message could not be sent', err));
            return;
          }
          if (!ok && !this.#drained) this.#drained = waitForDrain(channel, () => (this.#drained = undefined));
        }),
        deadline,
        'waiting for the broker to confirm the message',
      );
    } finally {
      this.#releaseSlot();
    }
  }


  async #acquireSlot(deadline: number): Promise<void> {
    if (this.#unconfirmed < this.#options.maxUnconfirmed) {
      this.#unconfirmed++;
      return;
    }
    let waiter: (() => void) | undefined;
    const granted = new Promise<void>((resolve) => {
      waiter = resolve;
      this.#slotWaiters.push(resolve);
    });
    try {
      await withDeadline(granted, deadline, 'waiting for a free slot in the unconfirmed window');
    } catch (err) {
      const i = waiter ? this.#slotWaiters.indexOf(waiter) : -1;
      if (i >= 0) this.#slotWaiters.splice(i, 1);
      // Not in the queue any more: the slot was handed over as the deadline fired. Give it back.
      else this.#releaseSlot();
      throw err;
    }
  }

  #releaseSlot(): void {
    const next = this.#slotWaiters.shift();
    // The slot passes straight to the next waiter, so the count stays the same.
    if (next) next();
    else this.#unconfirmed--;
  }

  /** Closes the channel; publishes from now on fail with SHUTTING_DOWN. Safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#managed?.close();
  }
}

function unavailable(why: string, cause?: unknown): CelerityError {
  return new CelerityError('BROKER_UNAVAILABLE', `Broker unavailable: ${why}`, { cause, retryAfterS: RETRY_AFTER_S });
}

/** Resolves when the channel's write buffer has drained (or the channel closed). */
function waitForDrain(channel: ConfirmChannel, onDone: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      channel.off('drain', done);
      channel.off('close', done);
      onDone();
      resolve();
    };
    channel.on('drain', done);
    channel.on('close', done);
  });
}

/** Races `promise` against `deadline`, rejecting with BROKER_UNAVAILABLE when it passes. */
async function withDeadline<T>(promise: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailable(`timed out ${what}`)), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
