/**
 * The AMQP topology as data: every exchange, queue and binding Celerity uses, described by
 * pure functions of the app's queues and the configuration (nothing here talks to a broker).
 * `applyTopology` (apply-topology.ts) declares a description; `DeclaredTopology`
 * (declared-topology.ts) decides what is declared at connect and re-applied on every
 * reconnect; `celerity topology` prints `describeTopology(...)` for an operator.
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
 * Replies: each gateway or client process has one exclusive, auto-delete reply queue
 * (`celerity.reply.<uuid>`, a new name per connection); workers (ours and Celery's `rpc://`
 * backend alike) publish results to the default exchange with the request's `reply_to` as
 * routing key.
 */
import { queueTypeOf, type QueueTypes } from '../core/index.js';
import { DELAY_EXCHANGE, DELAY_HEADER, DELAY_LEVELS_MS, delayQueueName } from './delay.js';
import { EVENT_EXCHANGE } from './events.js';
import { PIDBOX_EXCHANGE, PIDBOX_QUEUE_ARGUMENTS, PIDBOX_REPLY_EXCHANGE, pidboxQueueName, pidboxReplyQueueName } from './pidbox.js';

/** The fanout exchange revokes are broadcast on. */
export const REVOKE_EXCHANGE = 'celerity.revoke';

// The name and type rules live in core/names.ts (config/ checks them without loading broker/).
export { queueTypeOf, type QueueTypes } from '../core/index.js';

/** Every queue classic: what Celerity declared before quorum queues, and Celery's default. */
export const CLASSIC_QUEUES: QueueTypes = { default: 'classic', perQueue: {} };

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
 * it, or `x-max-priority` for a queue QUEUE_MAX_PRIORITY or a task's `maxPriority` names (as
 * Celery's `x-max-priority` queue argument does; the config loader and the catalogue refuse it
 * on a quorum queue, which RabbitMQ 3.x refuses and 4.x ignores for two fixed levels). Quorum: the type, the broker's delivery limit, and dead-lettering into `<queue>.dead`
 * through the default exchange `at-least-once` (RabbitMQ ≥ 3.10; the broker keeps a message
 * until `<queue>.dead` has confirmed it, which requires `x-overflow: reject-publish`).
 */
export function taskQueueArguments(queue: string, types: QueueTypes = CLASSIC_QUEUES): Record<string, unknown> {
  const maxPriority = types.maxPriority?.[queue];
  if (queueTypeOf(types, queue) === 'classic') return maxPriority === undefined ? {} : { 'x-max-priority': maxPriority };
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


/** An exchange Celerity declares. */
interface ExchangeSpec {
  name: string;
  type: 'direct' | 'topic' | 'headers' | 'fanout';
  durable: boolean;
  autoDelete: boolean;
}

/** What a queue is for; also decides how a refused declaration is reported (see apply-topology.ts). */
type QueueKind = 'task' | 'dead-letter' | 'delay' | 'reply' | 'event-monitor' | 'revoke-listener' | 'task-feed' | 'pidbox';

/** When a queue is declared: at every (re)connect, or the first time it is needed (then again after a reconnect). */
export type DeclaredWhen = 'connect' | 'first-use';

/** A queue Celerity declares. `name` is `SERVER_NAMED` when the broker picks it. */
export interface QueueSpec {
  name: string;
  kind: QueueKind;
  durable: boolean;
  autoDelete: boolean;
  exclusive: boolean;
  arguments: Record<string, unknown>;
  when: DeclaredWhen;
}

/** A binding; `queue` may be `SERVER_NAMED` (the server-named queue of the same description). */
interface BindingSpec {
  queue: string;
  exchange: string;
  routingKey: string;
  arguments: Record<string, unknown>;
}

/** A set of declarations, applied in order: exchanges, then queues, then bindings. */
export interface Topology {
  exchanges: ExchangeSpec[];
  queues: QueueSpec[];
  bindings: BindingSpec[];
}

/** A queue name left to the broker (`amq.gen-…`). */
export const SERVER_NAMED = '';

/** Suffix of a task queue's dead-letter queue (`<queue>.dead`). */
const DEAD_SUFFIX = '.dead';

/** Start of a reply queue's name; the process adds a UUID. */
export const REPLY_QUEUE_PREFIX = 'celerity.reply.';

/**
 * Bounds on the gateway's event-monitor queue: events are advisory, and a stalled gateway must
 * not pile them up (60 s, 10 000 messages).
 */
const EVENT_MONITOR_QUEUE_ARGUMENTS: Readonly<Record<string, unknown>> = { 'x-message-ttl': 60_000, 'x-max-length': 10_000 };

function durableQueue(name: string, kind: QueueKind, args: Record<string, unknown>, when: DeclaredWhen): QueueSpec {
  return { name, kind, durable: true, autoDelete: false, exclusive: false, arguments: args, when };
}

/** Concatenates descriptions, dropping repeated declarations (the same exchange, queue or binding twice). */
function mergeTopologies(...parts: Topology[]): Topology {
  const seen = new Set<string>();
  const once = <T>(kind: string, items: T[]): T[] =>
    items.filter((item) => {
      const key = `${kind}:${JSON.stringify(item)}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  return {
    exchanges: once('exchange', parts.flatMap((p) => p.exchanges)),
    queues: once('queue', parts.flatMap((p) => p.queues)),
    bindings: once('binding', parts.flatMap((p) => p.bindings)),
  };
}

/**
 * Task queue `queue`: a durable direct exchange `queue`, the queue with the arguments of its
 * type (QUEUE_TYPES) and the binding. A quorum queue's `<queue>.dead` comes first: the broker
 * dead-letters into it, and with at-least-once dead-lettering a missing target keeps the
 * message in the task queue.
 */
export function taskQueueTopology(queue: string, types: QueueTypes = CLASSIC_QUEUES, when: DeclaredWhen = 'connect'): Topology {
  const quorum = queueTypeOf(types, queue) === 'quorum';
  return {
    exchanges: [{ name: queue, type: 'direct', durable: true, autoDelete: false }],
    queues: [...(quorum ? deadLetterTopology(queue, types, when).queues : []), durableQueue(queue, 'task', taskQueueArguments(queue, types), when)],
    bindings: [{ queue, exchange: queue, routingKey: queue, arguments: {} }],
  };
}

/**
 * `<queue>.dead`, where the worker publishes the dead letters of task queue `queue` (on first
 * use; a quorum task queue's is declared with the queue, since the broker dead-letters into it).
 */
export function deadLetterTopology(queue: string, types: QueueTypes = CLASSIC_QUEUES, when: DeclaredWhen = 'first-use'): Topology {
  return { exchanges: [], queues: [durableQueue(`${queue}${DEAD_SUFFIX}`, 'dead-letter', deadLetterQueueArguments(queue, types), when)], bindings: [] };
}

/** The delay exchange and the queue of one delay level (see delay.ts), declared on first use. */
export function delayTopology(levelMs: number): Topology {
  const name = delayQueueName(levelMs);
  return {
    exchanges: [{ name: DELAY_EXCHANGE, type: 'headers', durable: true, autoDelete: false }],
    queues: [durableQueue(name, 'delay', { 'x-message-ttl': levelMs, 'x-dead-letter-exchange': '' }, 'first-use')],
    bindings: [{ queue: name, exchange: DELAY_EXCHANGE, routingKey: '', arguments: { 'x-match': 'all', [DELAY_HEADER]: String(levelMs) } }],
  };
}

/** Celery's event exchange, declared exactly as Celery does (kombu's Exchange defaults: durable topic). */
export function eventTopology(): Topology {
  return { exchanges: [{ name: EVENT_EXCHANGE, type: 'topic', durable: true, autoDelete: false }], queues: [], bindings: [] };
}

/** One process's reply queue `name`: exclusive, auto-delete, not durable (replies are advisory). */
export function replyQueueTopology(name: string): Topology {
  return { exchanges: [], queues: [{ name, kind: 'reply', durable: false, autoDelete: true, exclusive: true, arguments: {}, when: 'connect' }], bindings: [] };
}

/** The gateway's event monitor: a server-named, bounded queue bound to every worker and task event. */
export function eventMonitorTopology(): Topology {
  return mergeTopologies(eventTopology(), {
    exchanges: [],
    queues: [{ name: SERVER_NAMED, kind: 'event-monitor', durable: false, autoDelete: true, exclusive: true, arguments: { ...EVENT_MONITOR_QUEUE_ARGUMENTS }, when: 'connect' }],
    bindings: ['worker.#', 'task.#'].map((routingKey) => ({ queue: SERVER_NAMED, exchange: EVENT_EXCHANGE, routingKey, arguments: {} })),
  });
}

/** Start of a worker's revoke queue's name; the process adds a UUID. */
export const REVOKE_QUEUE_PREFIX = 'celerity.revoke.';

/**
 * Revokes broadcast to every worker at once (the durable record is in PostgreSQL; this only
 * tells running workers now): a durable fanout exchange, and per worker (`listener`: its queue's
 * name) an exclusive, auto-delete queue bound to it, declared on every (re)connect under a
 * new name (revoke-broadcast.ts).
 */
export function revokeTopology(listener?: string): Topology {
  return {
    exchanges: [{ name: REVOKE_EXCHANGE, type: 'fanout', durable: true, autoDelete: false }],
    queues: listener ? [{ name: listener, kind: 'revoke-listener', durable: false, autoDelete: true, exclusive: true, arguments: {}, when: 'connect' }] : [],
    bindings: listener ? [{ queue: listener, exchange: REVOKE_EXCHANGE, routingKey: '', arguments: {} }] : [],
  };
}

/**
 * Where workers publish what running tasks report (progress, output, log lines) and hints of
 * their state changes (docs/events.md): a durable topic exchange, routing key `task.<kind>`.
 * Every gateway binds a queue of its own to it, so a stream sees a task whichever gateway
 * submitted it.
 */
export const TASK_EVENTS_EXCHANGE = 'celerity.task-events';

export function taskEventsTopology(): Topology {
  return { exchanges: [{ name: TASK_EVENTS_EXCHANGE, type: 'topic', durable: true, autoDelete: false }], queues: [], bindings: [] };
}

/** A gateway's task-event feed: server-named, bounded like the event monitor's (advisory; the store is the truth). */
export function taskFeedTopology(): Topology {
  return mergeTopologies(taskEventsTopology(), {
    exchanges: [],
    queues: [{ name: SERVER_NAMED, kind: 'task-feed', durable: false, autoDelete: true, exclusive: true, arguments: { ...EVENT_MONITOR_QUEUE_ARGUMENTS }, when: 'connect' }],
    bindings: [{ queue: SERVER_NAMED, exchange: TASK_EVENTS_EXCHANGE, routingKey: 'task.#', arguments: {} }],
  });
}

/**
 * A worker's remote-control mailbox, declared as kombu's `Mailbox` (celery/app/control.py) does
 * so that Python Celery and Celerity share it: the fanout exchange `celery.pidbox` (not durable)
 * and the worker's queue `<hostname>.celery.pidbox` (not durable, auto-delete, messages expire
 * after 300 s and the queue 10 s after its last consumer), bound to it.
 */
export function pidboxNodeTopology(hostname: string): Topology {
  const queue = pidboxQueueName(hostname);
  return {
    // The reply exchange too: replies are published to it, and a publish to a missing exchange closes the channel.
    exchanges: [
      { name: PIDBOX_EXCHANGE, type: 'fanout', durable: false, autoDelete: false },
      { name: PIDBOX_REPLY_EXCHANGE, type: 'direct', durable: false, autoDelete: false },
    ],
    queues: [{ name: queue, kind: 'pidbox', durable: false, autoDelete: true, exclusive: false, arguments: { ...PIDBOX_QUEUE_ARGUMENTS }, when: 'connect' }],
    bindings: [{ queue, exchange: PIDBOX_EXCHANGE, routingKey: '', arguments: {} }],
  };
}

/**
 * A caller's reply queue for control commands, as kombu's `Mailbox.get_reply_queue`: the direct
 * exchange `reply.celery.pidbox` and `<oid>.reply.celery.pidbox`, bound with routing key `oid`.
 * The command exchange is declared too: a caller publishes to it.
 */
export function pidboxReplyTopology(oid: string): Topology {
  const queue = pidboxReplyQueueName(oid);
  return {
    exchanges: [
      { name: PIDBOX_EXCHANGE, type: 'fanout', durable: false, autoDelete: false },
      { name: PIDBOX_REPLY_EXCHANGE, type: 'direct', durable: false, autoDelete: false },
    ],
    queues: [{ name: queue, kind: 'reply', durable: false, autoDelete: true, exclusive: false, arguments: { ...PIDBOX_QUEUE_ARGUMENTS }, when: 'connect' }],
    bindings: [{ queue, exchange: PIDBOX_REPLY_EXCHANGE, routingKey: oid, arguments: {} }],
  };
}

export interface DescribeOptions {
  /** The task queues: the app's (its tasks' queues) plus any the operator names (-Q). */
  queues: readonly string[];
  /** QUEUE_TYPES. @default every queue classic */
  queueTypes?: QueueTypes;
  /** Delay levels to show, in ms. @default every level (DELAY_LEVELS_MS) */
  delayLevelsMs?: readonly number[];
}

/**
 * Everything Celerity may create on the broker for these queues and this configuration: task
 * queues with their dead-letter queues, the delay exchange and its queues, `celeryev`, a reply
 * queue (its name is per process: shown with `<uuid>`) and the gateway's event-monitor queue.
 * Queues named ad hoc by a caller (`options.queue`) get the same declarations as a task queue.
 */
export function describeTopology(options: DescribeOptions): Topology {
  const types = options.queueTypes ?? CLASSIC_QUEUES;
  const queues = [...new Set(options.queues)].sort();
  return mergeTopologies(
    ...queues.map((queue) => taskQueueTopology(queue, types)),
    // A quorum queue's `<queue>.dead` is already part of its task queue's description.
    ...queues.filter((queue) => queueTypeOf(types, queue) === 'classic').map((queue) => deadLetterTopology(queue, types)),
    ...(options.delayLevelsMs ?? DELAY_LEVELS_MS).map((levelMs) => delayTopology(levelMs)),
    eventTopology(),
    replyQueueTopology(`${REPLY_QUEUE_PREFIX}<uuid>`),
    eventMonitorTopology(),
    revokeTopology(`${REVOKE_QUEUE_PREFIX}<uuid>`),
    taskFeedTopology(),
    pidboxNodeTopology('<worker name>'),
    pidboxReplyTopology('<uuid>'),
  );
}
