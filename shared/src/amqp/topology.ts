/**
 * The AMQP topology, declared in this one place and re-applied on every (re)connect.
 *
 * Task queues follow Celery's defaults so that a Python Celery client that declares the
 * same queue gets an equivalent declaration (RabbitMQ answers PRECONDITION_FAILED to an
 * inequivalent redeclare): for queue `q`, a durable direct exchange `q`, a durable classic
 * queue `q` with no arguments, bound with routing key `q`. Celerity publishes tasks to the
 * default exchange with routing key `q` and the `mandatory` flag, so a queue deleted behind
 * our back comes back as a returned message instead of a silent drop (or, publishing to a
 * deleted exchange, a channel error); Celery clients publishing to exchange `q` reach the
 * same queue.
 *
 * Replies: each gateway process has one server-named, exclusive, auto-delete reply queue;
 * workers (ours and Celery's `rpc://` backend alike) publish results to the default
 * exchange with the request's `reply_to` as routing key.
 */
import type { Channel, ChannelModel } from 'amqplib';

const QUEUE_NAME = /^[A-Za-z0-9._:-]{1,200}$/;

/** The rule of isValidQueueName, in words, for error messages. */
export const QUEUE_NAME_RULE = 'letters, digits, . _ - and :, at most 200, not starting with amq.';

/** Queue names we accept from callers and operators; `amq.` is reserved by the broker. */
export function isValidQueueName(name: string): boolean {
  return QUEUE_NAME.test(name) && !name.startsWith('amq.');
}

export async function declareTaskQueue(channel: Channel, queue: string): Promise<void> {
  await channel.assertExchange(queue, 'direct', { durable: true, autoDelete: false });
  await channel.assertQueue(queue, { durable: true, autoDelete: false, exclusive: false });
  await channel.bindQueue(queue, queue, queue);
}

/**
 * Declares this process's reply queue and returns its name: `name` when given, else one the
 * server generates. A named queue can be declared again under the same name after a consumer
 * cancel or a reconnect (server names `amq.gen-*` cannot), so replies to tasks already
 * published with it still arrive.
 */
export async function declareReplyQueue(channel: Channel, name = ''): Promise<string> {
  const reply = await channel.assertQueue(name, { exclusive: true, autoDelete: true, durable: false });
  return reply.queue;
}

/**
 * The set of task queues a process has declared. Re-declared in full after a reconnect;
 * a queue named by a caller (`options.queue`) is declared once, on first use, through here.
 *
 * The cap: `pinned` queues (the catalogue's own, known at start) are always declared and do not
 * count; every other name (ad hoc, from `options.queue`) counts against `maxQueues`. So callers
 * naming new queues can use up the ad-hoc budget, never the queues of known tasks.
 */
export class TaskQueues {
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
  constructor(maxQueues = 1000, declare: (channel: Channel, queue: string) => Promise<void> = declareTaskQueue, pinned: Iterable<string> = []) {
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

  /** After a reconnect: declare every known queue again. */
  async redeclareAll(connection: ChannelModel): Promise<void> {
    if (this.#declared.size === 0) return;
    await withChannel(connection, async (channel) => {
      for (const queue of this.#declared) await this.#declare(channel, queue);
    });
  }
}

/** Runs `fn` on a channel that lives only for the call. */
export async function withChannel<T>(connection: ChannelModel, fn: (channel: Channel) => Promise<T>): Promise<T> {
  const channel = await connection.createChannel();
  // A channel-level error (e.g. 406) also rejects the pending operation, which is what the
  // caller sees; this listener only keeps the 'error' event from being unhandled.
  channel.on('error', () => undefined);
  try {
    return await fn(channel);
  } finally {
    await channel.close().catch(() => undefined);
  }
}
