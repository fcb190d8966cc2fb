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
import type { QueueType, QueueTypes } from '../names.js';

// The name and type rules live in names.ts (config.ts checks them without loading amqp/).
export { QUEUE_NAME_RULE, QUEUE_TYPE_NAMES, isValidQueueName, type QueueType, type QueueTypes } from '../names.js';

/** Every queue classic: what Celerity declared before quorum queues, and Celery's default. */
export const CLASSIC_QUEUES: QueueTypes = { default: 'classic', perQueue: {} };

/** The type of task queue `queue` (its `<queue>.dead` follows it). */
export function queueTypeOf(types: QueueTypes, queue: string): QueueType {
  return types.perQueue[queue] ?? types.default;
}

/**
 * The broker's own delivery limit on quorum task queues (`x-delivery-limit`): a message
 * returned to the queue more than this many times (worker crashes, lost connections, nacks)
 * is dead-lettered by the broker into `<queue>.dead`. It is a backstop far above the worker's
 * count (WORKER_DELIVERY_LIMIT, default 5, which counts starts in the store and records
 * FAILURE): the broker also counts messages that were only prefetched when a connection died,
 * which a rolling restart does to many messages that never started. A constant, not a
 * setting, because every declarer (gateways, workers, Celery clients) must send the same
 * value or RabbitMQ refuses the declaration.
 */
export const QUORUM_DELIVERY_LIMIT = 20;

/**
 * The `x-` arguments task queue `queue` is declared with. Classic: none, as Celery declares
 * it. Quorum: the type, the broker's delivery limit, and dead-lettering into `<queue>.dead`
 * through the default exchange `at-least-once` (RabbitMQ ≥ 3.10; the broker keeps a message
 * until `<queue>.dead` has confirmed it, which requires `x-overflow: reject-publish`).
 */
export function taskQueueArguments(queue: string, types: QueueTypes = CLASSIC_QUEUES): Record<string, unknown> {
  if (queueTypeOf(types, queue) === 'classic') return {};
  return {
    'x-queue-type': 'quorum',
    'x-delivery-limit': QUORUM_DELIVERY_LIMIT,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': `${queue}.dead`,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

/** Arguments of `<queue>.dead`: the same type as its task queue, nothing else. */
export function deadLetterQueueArguments(queue: string, types: QueueTypes = CLASSIC_QUEUES): Record<string, unknown> {
  return queueTypeOf(types, queue) === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
}

/**
 * Declares task queue `queue` (exchange, queue, binding) as `types` says. A quorum queue's
 * `<queue>.dead` is declared first: the broker dead-letters into it, and with at-least-once
 * dead-lettering a missing target keeps the message in the task queue. A queue that exists
 * with other arguments fails with QueueMismatchError (naming both sets), not a bare 406.
 */
export async function declareTaskQueue(channel: Channel, queue: string, types: QueueTypes = CLASSIC_QUEUES): Promise<void> {
  const args = taskQueueArguments(queue, types);
  if (queueTypeOf(types, queue) === 'quorum') await assertQueueChecked(channel, `${queue}.dead`, deadLetterQueueArguments(queue, types));
  await channel.assertExchange(queue, 'direct', { durable: true, autoDelete: false });
  await assertQueueChecked(channel, queue, args);
  await channel.bindQueue(queue, queue, queue);
}

/** A durable queue declared with `args`; a 406 becomes QueueMismatchError. */
export async function assertQueueChecked(channel: Channel, queue: string, args: Record<string, unknown>): Promise<void> {
  try {
    await channel.assertQueue(queue, { durable: true, autoDelete: false, exclusive: false, arguments: args });
  } catch (err) {
    if ((err as { code?: unknown }).code === 406) throw new QueueMismatchError(queue, args, err);
    throw err;
  }
}

/**
 * The broker refused a queue declaration because the queue exists with other arguments
 * (406 PRECONDITION_FAILED): someone else declared it differently (a Celery client without
 * the quorum arguments, another QUEUE_TYPES). No reconnect can fix that, so the broker
 * connection treats it as irrecoverable and the message says what to change.
 */
export class QueueMismatchError extends Error {
  override readonly name = 'QueueMismatchError';
  readonly code = 'QUEUE_MISMATCH';
  /** What the broker said about the existing queue, e.g. `{x-queue-type: "quorum"}`. */
  readonly existing: Record<string, string>;

  constructor(readonly queue: string, readonly declared: Record<string, unknown>, cause: unknown) {
    const text = cause instanceof Error ? cause.message : String(cause);
    const existing = existingArguments(text);
    super(
      `Queue "${queue}" already exists on the broker with other arguments than Celerity declares. ` +
        `Celerity declares ${JSON.stringify(declared)}; the existing queue has ${JSON.stringify(existing)} ` +
        `(broker: ${text.replace(/^Operation failed: QueueDeclare; /, '')}). ` +
        'Make QUEUE_TYPES (and any Celery client declaring this queue) match, or delete the queue if it holds nothing you need.',
      { cause },
    );
    this.existing = existing;
  }
}

/**
 * RabbitMQ names one differing argument per refusal, in its reply text ("inequivalent arg
 * 'x-queue-type' for queue 'q' in vhost '/': received the value 'classic' of type 'longstr'
 * but current is none"). This only reads it back for the error message; nothing branches on
 * it (the code is 406).
 */
function existingArguments(text: string): Record<string, string> {
  const match = /inequivalent arg '([^']+)'.*?but current is (?:the value '([^']*)'|(none))/.exec(text);
  if (!match?.[1]) return {};
  return { [match[1]]: match[3] === 'none' ? '(absent)' : (match[2] ?? '?') };
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
    let channel = await openQuietChannel(connection);
    try {
      for (const queue of [...this.#declared]) {
        try {
          await this.#declare(channel, queue);
        } catch (err) {
          if (!onUnavailable || !isQueueUnavailable(err)) throw err;
          onUnavailable(queue, err);
          this.#declared.delete(queue);
          // The 404 closed the channel: go on with a fresh one.
          await channel.close().catch(() => undefined);
          channel = await openQuietChannel(connection);
        }
      }
    } finally {
      await channel.close().catch(() => undefined);
    }
  }
}

/**
 * 404 NOT_FOUND on a declare: the queue exists but its home node is down or unreachable (a
 * classic queue in a cluster). It comes back with its node, so it is not worth failing for.
 */
export function isQueueUnavailable(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 404;
}

async function openQuietChannel(connection: ChannelModel): Promise<Channel> {
  const channel = await connection.createChannel();
  // A channel-level error (e.g. 404) also rejects the pending operation, which is what the
  // caller sees; this listener only keeps the 'error' event from being unhandled.
  channel.on('error', () => undefined);
  return channel;
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
