/**
 * Consuming: one channel for all of this worker's queues, with a channel-wide prefetch equal
 * to the concurrency, so the worker never holds more messages than it runs (the rest stay
 * in the broker for other workers). Quorum queues refuse a consumer on a channel with
 * channel-wide (global) QoS, so when any consumed queue is quorum the prefetch is per
 * consumer instead: the same limit for one queue; with several queues each consumer may hold
 * `concurrency` messages and a local gate (Slots) still runs at most `concurrency` at once.
 * Set up again after every reconnect (ManagedChannel owns the channel, the consumer tags and
 * the re-subscription after a broker cancel).
 *
 * A delivery runs, and is acked, only on the channel it came from: once that channel is gone
 * the broker has put the message back (another worker may run it now), so a delivery still
 * waiting in the gate when its channel is lost is dropped from the gate, and one granted a slot
 * checks that its channel is still the live one before it runs.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import {
  CLASSIC_QUEUES,
  CONTENT_ENCODING,
  CONTENT_TYPE,
  ManagedChannel,
  declareTaskQueue,
  queueTypeOf,
  type Broker,
} from '../../shared/src/broker/index.js';
import {
  SlotAbortedError,
  Slots,
  stamp,
  tracing,
  type Logger,
  type QueueTypes,
} from '../../shared/src/core/index.js';
import { TaskInterruptedError, type TaskRunner } from './task-runner.js';
import { RequeueBackoff, holdFor, messageKey } from './requeue-backoff.js';

export interface ConsumerOptions {
  queues: string[];
  concurrency: number;
  logger: Logger;
  /** QUEUE_TYPES. @default every queue classic */
  queueTypes?: QueueTypes;
  /**
   * Longest a delivery may wait in the slot gate (several quorum queues) before it is handed
   * back to the broker (nack, requeue), in ms: it stays unacked meanwhile, and RabbitMQ closes a
   * channel holding a delivery unacked past its `consumer_timeout`. @default GATE_HOLD_MS
   */
  gateHoldMs?: number;
  /** Awaited before a task runs (its rate limit), given the message's headers; returns early on abort. @default none */
  beforeStart?: (headers: unknown, signal: AbortSignal) => Promise<void>;
}

/**
 * 10 minutes: a third of RabbitMQ's default `consumer_timeout` (30 minutes). A waiter is handed
 * back well before the broker would close the channel (and fail the acks of the tasks running
 * on it); a task's own time limit (25 minutes by default) keeps the running ones under it.
 */
const GATE_HOLD_MS = 600_000;

interface InFlight {
  channel: Channel;
  queue: string;
  message: ConsumeMessage;
  abort: AbortController;
  done: Promise<void>;
  /** Past the gate and running: losing its channel no longer drops it. */
  running: boolean;
  /** Waited in the gate past `gateHoldMs`: handed back to the broker. */
  handedBack: boolean;
  /** Acked or nacked already: a delivery tag must be settled exactly once. */
  settled: boolean;
}

/** A delivery granted a slot after its channel was lost: it is the broker's again, and does not run. */
class DeliveryChannelLostError extends Error {
  override readonly name = 'DeliveryChannelLostError';
  readonly code = 'DELIVERY_CHANNEL_LOST';
}

export class Consumer {
  readonly #runner: TaskRunner;
  readonly #options: ConsumerOptions;
  /** Set once `create` has opened it. */
  #managed: ManagedChannel | undefined;
  readonly #inFlight = new Set<InFlight>();
  #stopped = false;
  /** Subscribed once: later channels say "consuming" as they come (a reconnect). */
  #started = false;
  /** Failures in a row per message; see #requeueLater. */
  readonly #backoff: RequeueBackoff;
  /** Channel-wide prefetch (every queue classic), or per consumer (a quorum queue among them). */
  readonly #globalPrefetch: boolean;
  /** Only with per-consumer prefetch on several queues: caps the tasks run at once. */
  readonly #slots: Slots | undefined;
  #concurrency: number; // the prefetch; resize() changes it

  private constructor(runner: TaskRunner, options: ConsumerOptions) {
    this.#runner = runner;
    this.#options = options;
    this.#concurrency = options.concurrency;
    this.#backoff = new RequeueBackoff(options.logger);
    const types = options.queueTypes ?? CLASSIC_QUEUES;
    this.#globalPrefetch = options.queues.every((queue) => queueTypeOf(types, queue) === 'classic');
    this.#slots = !this.#globalPrefetch && options.queues.length > 1 ? new Slots(options.concurrency) : undefined;
  }

  static async create(broker: Broker, runner: TaskRunner, options: ConsumerOptions): Promise<Consumer> {
    const consumer = new Consumer(runner, { ...options, queues: [...options.queues] });
    const managed = await ManagedChannel.open(broker, {
      name: 'consumer channel',
      logger: options.logger,
      // Channel-wide (global) prefetch covers every queue this worker consumes with one limit;
      // quorum queues refuse it (NOT_IMPLEMENTED on basic.consume), so then it is per consumer.
      setup: (channel) => channel.prefetch(consumer.#concurrency, consumer.#globalPrefetch).then(() => undefined),
      onLost: (channel) => consumer.#onChannelLost(channel),
      onReady: () => {
        if (consumer.#started) consumer.#logConsuming();
      },
    });
    consumer.#managed = managed;
    for (const queue of options.queues) await consumer.#consume(managed, queue);
    consumer.#started = true;
    consumer.#logConsuming();
    return consumer;
  }

  #consume(managed: ManagedChannel, queue: string): Promise<void> {
    return managed.consume((channel) => declareTaskQueue(channel, queue, this.#options.queueTypes).then(() => queue), (message, channel) => this.#onMessage(channel, queue, message));
  }

  /** The queues consumed now (given at start, plus added, minus cancelled). */
  get queues(): readonly string[] {
    return this.#options.queues;
  }

  /** Consumes `queue` from now on, after reconnects too (Celery's `add_consumer`); false when already consumed. */
  async addQueue(queue: string): Promise<boolean> {
    if (!this.#managed || this.#stopped || this.#options.queues.includes(queue)) return false;
    await this.#consume(this.#managed, queue);
    return this.#options.queues.push(queue) > 0;
  }

  /** Stops consuming `queue` (Celery's `cancel_consumer`); its tasks in flight finish and are acked. */
  async cancelQueue(queue: string): Promise<boolean> {
    if (!this.#managed || !this.#options.queues.includes(queue)) return false;
    await this.#managed.cancel(queue);
    return this.#options.queues.splice(this.#options.queues.indexOf(queue), 1).length > 0;
  }

  /** Deliveries held now: running (Celery's `active`) or waiting for a slot (`reserved`). */
  deliveries(): { queue: string; message: ConsumeMessage; running: boolean }[] {
    return [...this.#inFlight].filter((e) => !e.settled).map((e) => ({ queue: e.queue, message: e.message, running: e.running }));
  }

  get inFlight(): number { return this.#inFlight.size; }

  /** Subscribed to every queue on a live channel (false while reconnecting and once stopped). */
  get consuming(): boolean {
    return this.#managed?.consuming === true;
  }

  /** The gate and the live channel's prefetch now (a smaller one cuts no running task); per-consumer prefetch (quorum): from the next channel. */
  resize(concurrency: number): void {
    this.#concurrency = concurrency;
    this.#slots?.resize(concurrency);
    this.#managed?.channel?.prefetch(concurrency, this.#globalPrefetch).catch((err: unknown) => {
      this.#options.logger.warn('could not change the prefetch on the consumer channel; the next channel gets it', { concurrency, err });
    });
  }

  #logConsuming(): void {
    this.#options.logger.info('consuming', {
      queues: this.#options.queues,
      concurrency: this.#concurrency,
      prefetch: this.#globalPrefetch ? 'channel' : 'consumer',
    });
  }

  /**
   * The broker put back every unacked message of `channel`: those still waiting in the gate
   * leave it now (they would otherwise run later beside the copy another worker took).
   */
  #onChannelLost(channel: Channel): void {
    for (const entry of this.#inFlight) if (entry.channel === channel && !entry.running) entry.abort.abort();
  }

  #isCurrent(channel: Channel): boolean {
    return this.#managed?.isCurrent(channel) === true;
  }

  #onMessage(channel: Channel, queue: string, message: ConsumeMessage): void {
    if (tracing()) stamp(messageKey(message), 'delivered');
    const abort = new AbortController();
    const entry: InFlight = { channel, queue, message, abort, done: Promise.resolve(), running: false, handedBack: false, settled: false };
    this.#inFlight.add(entry);
    const reply = (replyTo: string, correlationId: string, body: Buffer): void => {
      // Replies go to the default exchange, as Celery's rpc:// backend sends them.
      channel.publish('', replyTo, body, { correlationId, contentType: CONTENT_TYPE, contentEncoding: CONTENT_ENCODING, deliveryMode: 1 });
    };
    const run = async (): Promise<void> => {
      await this.#options.beforeStart?.(message.properties.headers, abort.signal);
      if (abort.signal.aborted && this.#isCurrent(channel)) throw new TaskInterruptedError('stopped while waiting for its rate limit');
      // A delivery runs only on the channel it came from (see the top of this file).
      if (!this.#isCurrent(channel)) throw new DeliveryChannelLostError('the delivery channel closed while the message waited for a slot');
      entry.running = true;
      await this.#runner.run({ queue, content: message.content, properties: message.properties, redelivered: message.fields.redelivered }, reply, abort.signal);
    };
    const slots = this.#slots;
    const gated = slots ? this.#afterGate(slots, entry, run) : run();
    entry.done = gated
      .then(
        () => {
          this.#backoff.forget(message);
          this.#settle(entry, 'ack');
          if (tracing()) stamp(messageKey(message), 'acked');
        },
        (err: unknown) => {
          if (entry.handedBack && !entry.running && this.#isCurrent(channel)) {
            this.#options.logger.info('a message waited for a slot past the bound; handed back to the broker', { queue, taskId: messageKey(message), gateHoldMs: this.#gateHoldMs });
            this.#settle(entry, 'requeue');
            return;
          }
          if (!entry.running && (err instanceof DeliveryChannelLostError || (err instanceof SlotAbortedError && !this.#isCurrent(channel)))) {
            // Never ran: the broker has the message back and delivers it again (maybe elsewhere).
            this.#options.logger.warn('a message waiting for a slot lost its channel; the broker delivers it again', { queue, taskId: messageKey(message) });
            entry.settled = true;
            return;
          }
          if (this.#stopped || abort.signal.aborted || err instanceof TaskInterruptedError) {
            // The worker is stopping: give the message back so another worker runs it.
            if (!entry.settled) this.#options.logger.warn('task not completed; requeueing', { queue, err });
            this.#settle(entry, 'requeue');
            return;
          }
          return this.#requeueLater(entry, queue, err);
        },
      )
      .finally(() => this.#inFlight.delete(entry));
  }

  /**
   * Runs `run` once the gate grants a slot. A delivery that waits longer than `gateHoldMs` is
   * handed back instead (the gate wait is aborted; the catch in #onMessage requeues it).
   */
  async #afterGate(slots: Slots, entry: InFlight, run: () => Promise<void>): Promise<void> {
    const timer = setTimeout(() => {
      entry.handedBack = true;
      entry.abort.abort();
    }, this.#gateHoldMs);
    timer.unref();
    let release: () => void;
    try {
      release = await slots.acquire(entry.abort.signal);
    } finally {
      clearTimeout(timer);
    }
    try {
      await run();
    } finally {
      release();
    }
  }

  get #gateHoldMs(): number { return this.#options.gateHoldMs ?? GATE_HOLD_MS; }

  /** A failure that is not the worker stopping: held for a growing delay, then requeued (requeue-backoff.ts). */
  async #requeueLater(entry: InFlight, queue: string, err: unknown): Promise<void> {
    await holdFor(this.#backoff.failed(entry.message, queue, err), entry.abort.signal);
    this.#settle(entry, 'requeue');
  }

  #settle(entry: InFlight, how: 'ack' | 'requeue'): void {
    if (entry.settled) return;
    // Acks are only valid on the channel that delivered the message; if that channel is
    // gone the broker has already put the message back, and will redeliver it. (While the
    // worker drains, its channel stays the live one until every ack is in.)
    if (!this.#isCurrent(entry.channel)) {
      this.#options.logger.warn('delivery channel closed before the ack; the broker will redeliver the message', {
        queue: entry.message.fields.routingKey,
      });
      return;
    }
    entry.settled = true;
    try {
      if (how === 'ack') entry.channel.ack(entry.message);
      else entry.channel.nack(entry.message, false, true);
    } catch (err) {
      this.#options.logger.warn('could not settle a message; the broker will redeliver it', { err });
    }
  }

  /** Aborts every running task (their messages are requeued, nothing is recorded). */
  abortAll(): void {
    for (const entry of this.#inFlight) entry.abort.abort();
  }

  /**
   * Stops taking messages, lets in-flight tasks finish within `graceMs` (acking them),
   * then requeues what is left and closes the channel. Safe to call twice.
   */
  async stop(graceMs: number): Promise<{ finished: number; requeued: number }> {
    if (this.#stopped) return { finished: 0, requeued: 0 };
    this.#stopped = true;
    const initially = this.#inFlight.size;
    // No new deliveries; the channel stays open (and live) for the acks of those in flight.
    await this.#managed?.drain();
    const all = Promise.all([...this.#inFlight].map((e) => e.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    let requeued = 0;
    for (const entry of [...this.#inFlight]) {
      entry.abort.abort();
      if (!entry.settled) {
        entry.settled = true;
        requeued++;
        // A channel already gone put its messages back by itself.
        if (!this.#isCurrent(entry.channel)) continue;
        try {
          entry.channel.nack(entry.message, false, true);
        } catch {
          // Closed meanwhile: the broker requeues by itself.
        }
      }
    }
    // Let the interrupted tasks unwind (they record nothing) before the channel closes.
    await Promise.race([Promise.all([...this.#inFlight].map((e) => e.done)), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    await this.#managed?.close();
    return { finished: initially - requeued, requeued };
  }
}
