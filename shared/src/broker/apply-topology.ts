/**
 * The one applier of topology descriptions (topology.ts): declares exchanges, then queues, then
 * bindings on a channel. Every declaration Celerity makes goes through here, so what is on the
 * broker is what `describeTopology` (and `celerity topology`) says.
 *
 * Reply codes on a declaration, and what becomes of them:
 *   406 PRECONDITION_FAILED  on a task or dead-letter queue: it exists with other arguments
 *                            (another QUEUE_TYPES or QUEUE_MAX_PRIORITY, a Celery client). QueueMismatchError, which
 *                            the broker connection treats as irrecoverable: no reconnect loop.
 *   404 NOT_FOUND            on a declare in a cluster: the queue's home node is down. Passed on
 *                            as is; `isQueueUnavailable` lets re-declaring skip it until the
 *                            node is back.
 * Either closes the channel the declaration ran on (a server-side channel error).
 */
import type { Channel } from 'amqplib';
import { DELAY_LEVELS_MS, DELAY_QUEUE_PREFIX } from './delay.js';
import {
  CLASSIC_QUEUES,
  SERVER_NAMED,
  delayTopology,
  eventTopology,
  replyQueueTopology,
  taskQueueTopology,
  type QueueSpec,
  type QueueTypes,
  type Topology,
} from './topology.js';

/** Queue kinds whose 406 means "declared differently elsewhere" and must stop the process retrying. */
const CHECKED_KINDS: ReadonlySet<QueueSpec['kind']> = new Set(['task', 'dead-letter']);

/**
 * Declares `topology` on `channel`. Returns the names of its queues as declared, in order (a
 * `SERVER_NAMED` queue gets the broker's name, which its bindings then use).
 */
export async function applyTopology(channel: Channel, topology: Topology): Promise<string[]> {
  for (const exchange of topology.exchanges) {
    await channel.assertExchange(exchange.name, exchange.type, { durable: exchange.durable, autoDelete: exchange.autoDelete });
  }
  const names: string[] = [];
  let serverNamed: string | undefined;
  for (const queue of topology.queues) {
    const name = await assertQueue(channel, queue);
    if (queue.name === SERVER_NAMED) serverNamed = name;
    names.push(name);
  }
  for (const binding of topology.bindings) {
    const queue = binding.queue === SERVER_NAMED ? serverNamed : binding.queue;
    if (queue === undefined) throw new RangeError(`a binding to a server-named queue needs that queue in the same description (exchange "${binding.exchange}")`);
    await channel.bindQueue(queue, binding.exchange, binding.routingKey, binding.arguments);
  }
  return names;
}

async function assertQueue(channel: Channel, queue: QueueSpec): Promise<string> {
  const options = { durable: queue.durable, autoDelete: queue.autoDelete, exclusive: queue.exclusive, arguments: queue.arguments };
  try {
    return (await channel.assertQueue(queue.name, options)).queue;
  } catch (err) {
    if (CHECKED_KINDS.has(queue.kind) && (err as { code?: unknown }).code === 406) throw new QueueMismatchError(queue.name, queue.arguments, err);
    throw err;
  }
}

/**
 * Declares task queue `queue` (exchange, queue, binding) as `types` says. A queue that exists
 * with other arguments fails with QueueMismatchError (naming both sets), not a bare 406.
 */
export async function declareTaskQueue(channel: Channel, queue: string, types: QueueTypes = CLASSIC_QUEUES): Promise<void> {
  await applyTopology(channel, taskQueueTopology(queue, types));
}

/** Declares the delay exchange and the queue `name` (`celerity.delay.<ms>`), bound for its level. */
export async function declareDelayQueue(channel: Channel, name: string): Promise<void> {
  const levelMs = Number(name.slice(DELAY_QUEUE_PREFIX.length));
  if (!name.startsWith(DELAY_QUEUE_PREFIX) || !DELAY_LEVELS_MS.includes(levelMs)) throw new RangeError(`"${name}" is not a delay queue`);
  await applyTopology(channel, delayTopology(levelMs));
}

/** Declares the event exchange `celeryev`. */
export async function declareEventExchange(channel: Channel): Promise<void> {
  await applyTopology(channel, eventTopology());
}

/**
 * Declares this process's reply queue and returns its name: `name` when given, else one the
 * server generates. A named queue can be declared again under the same name after a consumer
 * cancel or a reconnect (server names `amq.gen-*` cannot), so replies to tasks already
 * published with it still arrive.
 */
export async function declareReplyQueue(channel: Channel, name = SERVER_NAMED): Promise<string> {
  const [queue] = await applyTopology(channel, replyQueueTopology(name));
  return queue ?? name;
}

/**
 * 404 NOT_FOUND on a declare: the queue exists but its home node is down or unreachable (a
 * classic queue in a cluster). It comes back with its node, so it is not worth failing for.
 */
export function isQueueUnavailable(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 404;
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
        (existing['x-max-priority'] !== undefined || 'x-max-priority' in declared
          ? 'The priority setting differs: make QUEUE_MAX_PRIORITY and the tasks\' maxPriority (and any Celery client\'s x-max-priority) give this queue the same value on every process. RabbitMQ cannot change a queue\'s priority in place: drain and delete it to change it.'
          : 'Make QUEUE_TYPES (and any Celery client declaring this queue) match, or delete the queue if it holds nothing you need.'),
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
  // Same-typed values read "received '5' but current is '10'", without "the value".
  const match = /inequivalent arg '([^']+)'.*?but current is (?:the value '([^']*)'|'([^']*)'|(none))/.exec(text);
  if (!match?.[1]) return {};
  return { [match[1]]: match[4] === 'none' ? '(absent)' : (match[2] ?? match[3] ?? '?') };
}

