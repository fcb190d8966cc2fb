/**
 * What a process keeps declared on the broker, and the one place that re-applies it on every
 * (re)connect. The declarations themselves come from the descriptions in topology.ts, through
 * the applier in apply-topology.ts.
 *
 * - `DeclaredQueues`: a set of queues of one kind declared on demand (task queues named by a
 *   caller, dead-letter queues, delay levels), each declared once on first use and again after
 *   a reconnect. The publisher declares through these sets what its targets need
 *   (publish-target.ts), and forgets a queue there when the broker returns a message for it.
 * - `DeclaredTopology`: a process's sets (task, dead-letter, delay queues) plus the queues it
 *   declares at every connect (the catalogue's, for a submitter), registered with the broker
 *   once. The gateway, the Node client and the worker all use it, so which queues come back
 *   after a reconnect is decided here only. (The consumer, the reply listener and the event
 *   channels declare what they consume in their own channel's setup, from the same
 *   descriptions: a consumer the broker cancelled must declare its queue again on its channel.)
 */
import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from '../core/index.js';
import { declareDelayQueue, declareTaskQueue, isQueueUnavailable } from './apply-topology.js';
import type { Broker } from './connection.js';
import { eachOnTransientChannel, withChannel } from './managed-channel.js';
import { declareDeadLetterQueue } from './dead-letters.js';
import { CLASSIC_QUEUES, type QueueTypes } from './topology.js';

/**
 * A set of queues of one kind (task, dead-letter or delay queues) a process has declared, with
 * how one of them is declared. Re-declared in full after a reconnect; a queue named by a caller
 * (`options.queue`) is declared once, on first use, through here.
 *
 * The cap: `pinned` queues (the catalogue's own, known at start) are always declared and do not
 * count; every other name (ad hoc, from `options.queue`) counts against `maxQueues`. So callers
 * naming new queues can use up the ad-hoc budget, never the queues of known tasks.
 */
export class DeclaredQueues {
  readonly #declared = new Set<string>();
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #maxQueues: number;
  readonly #declare: (channel: Channel, queue: string) => Promise<void>;
  readonly #pinned: ReadonlySet<string>;

  /**
   * @param maxQueues bound on distinct queues one process will declare. @default 1000
   * @param declare how one queue is declared (dead-letter and delay queues reuse this cache).
   *   @default declareTaskQueue
   * @param pinned queues always allowed, outside the cap (the catalogue's). @default none
   */
  constructor(
    maxQueues = 1000,
    declare: (channel: Channel, queue: string) => Promise<void> = (channel, queue) => declareTaskQueue(channel, queue),
    pinned: Iterable<string> = [],
  ) {
    this.#maxQueues = maxQueues;
    this.#declare = declare;
    this.#pinned = new Set(pinned);
  }

  /** Declared or being declared, not pinned: what counts against the cap. */
  #adHoc(): number {
    let n = 0;
    for (const queue of this.#declared) if (!this.#pinned.has(queue)) n++;
    for (const queue of this.#inFlight.keys()) if (!this.#pinned.has(queue)) n++;
    return n;
  }

  has(queue: string): boolean {
    return this.#declared.has(queue);
  }

  get size(): number {
    return this.#declared.size;
  }

  list(): string[] {
    return [...this.#declared];
  }

  /**
   * Declares `queue` unless it already is; concurrent callers share one declare. Each declare
   * runs on a short-lived channel of its own: a refused declare (406 PRECONDITION_FAILED when
   * the queue exists with other arguments) closes only that channel.
   */
  async ensure(connection: ChannelModel, queue: string): Promise<void> {
    if (this.#declared.has(queue)) return;
    const pending = this.#inFlight.get(queue);
    if (pending) return pending;
    if (!this.#pinned.has(queue) && this.#adHoc() >= this.#maxQueues) {
      throw new RangeError(`Refusing to declare more than ${this.#maxQueues} ad-hoc task queues in one process`);
    }
    const declaring = withChannel(connection, (channel) => this.#declare(channel, queue))
      .then(() => {
        this.#declared.add(queue);
      })
      .finally(() => this.#inFlight.delete(queue));
    this.#inFlight.set(queue, declaring);
    return declaring;
  }

  /** Forgets a queue (it was deleted on the broker): the next `ensure` declares it again. */
  forget(queue: string): void {
    this.#declared.delete(queue);
  }

  /**
   * After a reconnect: declare every known queue again. With `onUnavailable`, a queue the
   * broker cannot serve right now (404: a classic queue whose node is down in a cluster) is
   * reported, forgotten (its next `ensure` tries again) and skipped, so one dead node does not
   * keep the whole process off the broker. A QueueMismatchError always fails the call.
   */
  async redeclareAll(connection: ChannelModel, onUnavailable?: (queue: string, err: unknown) => void): Promise<void> {
    if (this.#declared.size === 0) return;
    await eachOnTransientChannel(connection, [...this.#declared], (channel, queue) => this.#declare(channel, queue), (queue, err) => {
      if (!onUnavailable || !isQueueUnavailable(err)) throw err;
      onUnavailable(queue, err);
      this.#declared.delete(queue);
    });
  }
}


/** Most ad-hoc task queues, dead-letter queues and delay queues one process declares. */
const MAX_TASK_QUEUES = 1000;
const MAX_DEAD_LETTER_QUEUES = 1000;
const MAX_DELAY_QUEUES = 64;

export interface DeclaredTopologyOptions {
  logger: Logger;
  /** QUEUE_TYPES. @default every queue classic */
  queueTypes?: QueueTypes;
  /** Task queues declared at every (re)connect, outside the ad-hoc cap (a submitter's catalogue queues). @default none */
  connectQueues?: readonly string[];
  /** The task-queue set, when the caller shares it (the gateway's queue stats read it). @default a new one */
  taskQueues?: DeclaredQueues;
}

export class DeclaredTopology {
  private constructor(
    /** Task queues: the connect queues and ad-hoc ones (`options.queue`), declared on use. */
    readonly taskQueues: DeclaredQueues,
    /** `<queue>.dead`, declared by the worker before its first dead letter there. */
    readonly deadLetterQueues: DeclaredQueues,
    /** `celerity.delay.<ms>`, declared before the first delayed message at that level. */
    readonly delayQueues: DeclaredQueues,
  ) {}

  /**
   * Declares the connect queues now and registers the re-declaration of everything known on
   * every reconnect. In a cluster a classic queue whose node is down answers 404: it is logged,
   * skipped and declared again on its next use (a submit to it gets 503 meanwhile), instead of
   * keeping the whole process off the broker. Any other failure (QueueMismatchError above all)
   * fails the connection as any setup does.
   */
  static async create(broker: Broker, options: DeclaredTopologyOptions): Promise<DeclaredTopology> {
    const types = options.queueTypes ?? CLASSIC_QUEUES;
    const connectQueues = options.connectQueues ?? [];
    const topology = new DeclaredTopology(
      options.taskQueues ?? new DeclaredQueues(MAX_TASK_QUEUES, (channel, queue) => declareTaskQueue(channel, queue, types), connectQueues),
      new DeclaredQueues(MAX_DEAD_LETTER_QUEUES, (channel, name) => declareDeadLetterQueue(channel, name, types)),
      new DeclaredQueues(MAX_DELAY_QUEUES, declareDelayQueue),
    );
    const unavailable = (queue: string, err: unknown): void => {
      options.logger.warn('queue unavailable (its node may be down); declared again on next use', { queue, err });
    };
    // Topology first on every (re)connect: the connect queues exist before anything is
    // published, so a task submitted before any worker started is kept, not dropped.
    await broker.onConnect(async (connection) => {
      for (const queue of connectQueues) {
        await topology.taskQueues.ensure(connection, queue).catch((err: unknown) => {
          if (!isQueueUnavailable(err)) throw err;
          unavailable(queue, err);
        });
      }
      for (const set of [topology.taskQueues, topology.deadLetterQueues, topology.delayQueues]) await set.redeclareAll(connection, unavailable);
    });
    return topology;
  }
}
