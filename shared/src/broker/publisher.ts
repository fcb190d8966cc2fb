/**
 * The one confirmed publisher: `publish(target, message)` resolves only when the broker has
 * confirmed the message (it is then on disk for a durable queue), so a caller may promise that
 * the task will run. Submits, re-drives and the worker's retries, deferrals and dead letters
 * all go through it; replies and events are fire-and-forget and do not.
 *
 * Before publishing it declares the queues the target needs (once per set, publish-target.ts).
 * Messages are published `mandatory`: one that no queue takes is returned by the broker (always
 * before its confirm), and the target's rule on a return applies. The unconfirmed window is a
 * `Slots` (slots.ts): past it, publishes wait (bounded in time) instead of growing a buffer.
 * When the channel's write buffer is full (`publish()` returned false), later publishes wait
 * for `drain`.
 */
import type { ConfirmChannel, Options } from 'amqplib';
import { CelerityError, SlotAbortedError, Slots } from '../core/index.js';
import type { Logger } from '../core/index.js';
import type { Broker } from './connection.js';
import { ManagedChannel } from './managed-channel.js';
import type { PublishTarget } from './publish-target.js';

export interface PublisherOptions {
  logger: Logger;
  /** Most messages awaiting a confirm at once. @default 1000 */
  maxUnconfirmed?: number;
  /** How long one publish may wait for a window slot plus its confirm, in ms. @default 10000 */
  confirmTimeoutMs?: number;
}

/** A message to publish. `correlationId` is required: it identifies a returned message. */
export interface OutgoingMessage {
  content: Buffer;
  options: Options.Publish & { correlationId: string };
}

/** `Retry-After` suggested to HTTP callers when the broker cannot take a message. */
const RETRY_AFTER_S = 2;
/** `Retry-After` when a queue could not be declared (a node down, a refused declaration). */
const DECLARE_RETRY_AFTER_S = 5;

export class Publisher {
  readonly #broker: Broker;
  readonly #options: Required<PublisherOptions>;
  /** Set once `create` has opened it. */
  #managed: ManagedChannel<ConfirmChannel> | undefined;
  readonly #window: Slots;
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
    this.#window = new Slots(this.#options.maxUnconfirmed);
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

  /** Messages awaiting their confirm now (slots of the window held). */
  get unconfirmed(): number {
    return this.#window.held;
  }

  #setup(channel: ConfirmChannel): Promise<void> {
    channel.on('return', (message: { properties: { correlationId?: string } }) => {
      const id = message.properties.correlationId;
      const oldest = id === undefined ? undefined : this.#inFlight.get(id)?.find((p) => !p.returned);
      if (oldest) oldest.returned = true;
    });
    this.#drained = undefined;
    return Promise.resolve();
  }

  /**
   * Declares what `target` needs, publishes and waits for the broker's confirm. Rejects with
   * BROKER_UNAVAILABLE (not connected, no confirm in time, a resource alarm), QUEUE_UNAVAILABLE
   * (a queue could not be declared, or the broker returned the message: see the target's rule),
   * or SHUTTING_DOWN once closed.
   */
  async publish(target: PublishTarget, message: OutgoingMessage): Promise<void> {
    for (let round = 1; ; round++) {
      await this.declare(target);
      if ((await this.#send(target.exchange, target.routingKey, message)) === 'confirmed') return;
      // Returned: a queue it needs is gone (deleted behind our back). Declared again on next use.
      for (const queue of target.requires) queue.queues.forget(queue.name);
      if (target.onReturn === 'fail' || round >= 2) {
        throw new CelerityError('QUEUE_UNAVAILABLE', `No queue took the message (routing key "${target.routingKey}"): the queue does not exist`, {
          retryAfterS: RETRY_AFTER_S,
        });
      }
    }
  }

  /**
   * Declares the queues `target` needs that its sets do not hold yet (`publish` does it too);
   * for a caller that must know the queues exist before it writes anything. Rejects with
   * BROKER_UNAVAILABLE or QUEUE_UNAVAILABLE.
   */
  async declare(target: PublishTarget): Promise<void> {
    for (const { queues, name } of target.requires) {
      if (queues.has(name)) continue;
      const connection = this.#broker.connection;
      if (!connection) throw unavailable('not connected to the broker');
      try {
        await queues.ensure(connection, name);
      } catch (err) {
        throw new CelerityError('QUEUE_UNAVAILABLE', `Could not declare queue "${name}"`, { cause: err, retryAfterS: DECLARE_RETRY_AFTER_S });
      }
    }
  }

  /** One publish within the window; resolves when confirmed, telling whether the broker returned it. */
  async #send(exchange: string, routingKey: string, message: OutgoingMessage): Promise<'confirmed' | 'returned'> {
    if (this.#closed) throw new CelerityError('SHUTTING_DOWN', 'The publisher is closed');
    const deadline = Date.now() + this.#options.confirmTimeoutMs;
    if (this.#broker.blocked) {
      throw new CelerityError('BROKER_UNAVAILABLE', 'The broker is refusing new messages (resource alarm)', { retryAfterS: RETRY_AFTER_S });
    }
    const release = this.#window.tryAcquire() ?? (await this.#waitForSlot(deadline));
    try {
      if (this.#drained) await withDeadline(this.#drained, deadline, 'waiting for the publish buffer to drain');
      const channel = this.#managed?.channel;
      if (!channel) throw unavailable('not connected to the broker');
      const id = message.options.correlationId;
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
      return await withDeadline(
        new Promise<'confirmed' | 'returned'>((resolve, reject) => {
          let ok: boolean;
          try {
            ok = channel.publish(exchange, routingKey, message.content, { ...message.options, mandatory: true }, (err: unknown) => {
              const returned = settle();
              if (err) reject(unavailable('the broker did not accept the message', err));
              else resolve(returned ? 'returned' : 'confirmed');
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
      release();
    }
  }

  async #waitForSlot(deadline: number): Promise<() => void> {
    try {
      return await this.#window.acquire(AbortSignal.timeout(Math.max(0, deadline - Date.now())));
    } catch (err) {
      if (err instanceof SlotAbortedError) throw unavailable('timed out waiting for a free slot in the unconfirmed window', err);
      throw err;
    }
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
