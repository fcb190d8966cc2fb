/**
 * Which queues a caller may name in `options.queue`: the one home of that rule, used by the
 * Node client's submit path (the reserved names) and by the gateway (those plus its allowlist).
 *
 * A task queue `q` is declared with a direct exchange `q` (broker/topology.ts), so naming a queue
 * creates broker objects under that name. A caller must never reach the objects Celerity or
 * Celery run on (delay exchange and queues, reply queues, dead letters, events, pidbox), nor,
 * by default, another application's queues on the same vhost. It imports only core/names.ts and
 * the scope patterns, so configuration can validate GATEWAY_ALLOWED_QUEUES with it.
 */
import { CelerityError, isValidQueueName, QUEUE_NAME_RULE } from '../core/index.js';
import { matchesTaskPattern } from './scopes.js';

/**
 * Names reserved for the broker objects Celerity and Celery use, with why:
 * - `amq.*`: the broker's own;
 * - `celerity.*`: Celerity's delay exchange and levels, reply queues, anything it adds later;
 * - `*.dead`: dead-letter queues, which admins re-drive (a forged message there runs as theirs);
 * - `celeryev`, `celeryev.*`: Celery's event exchange and its monitors' queues;
 * - `celery.pidbox`, `*.pidbox`: Celery's remote-control exchanges and queues;
 * - a UUID: the reply queue of a Celery client's `rpc://` backend.
 */
const RESERVED: readonly { test: (name: string) => boolean; what: string }[] = [
  { test: (n) => n.startsWith('amq.'), what: 'amq.* is reserved by the broker' },
  { test: (n) => n.startsWith('celerity.'), what: 'celerity.* names Celerity\'s own delay and reply objects' },
  { test: (n) => n.endsWith('.dead'), what: '*.dead names dead-letter queues' },
  { test: (n) => n === 'celeryev' || n.startsWith('celeryev.'), what: 'celeryev names Celery\'s event exchange and queues' },
  { test: (n) => n.endsWith('.pidbox'), what: '*.pidbox names Celery\'s remote-control objects' },
  { test: (n) => UUID.test(n), what: 'a UUID names a Celery client\'s reply queue' },
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Why `name` may not be named by a caller, or undefined when it is not reserved. */
export function reservedQueueReason(name: string): string | undefined {
  return RESERVED.find((rule) => rule.test(name))?.what;
}

/**
 * Throws 400 INVALID_QUEUE unless a caller may name `queue` in `options.queue`: a valid name,
 * not reserved. Checked whenever a caller names a queue, even the task's own (a task sent by
 * name gets the queue it was sent to as its own).
 */
export function assertUsableQueue(queue: string): void {
  if (!isValidQueueName(queue)) throw new CelerityError('INVALID_QUEUE', `Invalid queue name "${queue}": ${QUEUE_NAME_RULE}`);
  const reason = reservedQueueReason(queue);
  if (reason !== undefined) throw new CelerityError('INVALID_QUEUE', `Queue "${queue}" may not be named by a caller: ${reason}`);
}

/** The rule of a GATEWAY_ALLOWED_QUEUES entry, in words. */
export interface QueueAllowlistOptions {
  /** Queues always allowed: the app's tasks' queues and those QUEUE_TYPES or QUEUE_MAX_PRIORITY names. */
  known: readonly string[];
  /** GATEWAY_ALLOWED_QUEUES: more queue names or patterns (`*` = any run of characters). @default [] */
  patterns: readonly string[];
}

/**
 * The gateway's queue rule: a caller may name a queue that is not reserved and is known, or
 * matches GATEWAY_ALLOWED_QUEUES or one of `extra` (an API key's `queue:` scopes).
 */
export class QueueAllowlist {
  readonly #known: ReadonlySet<string>;
  readonly #patterns: readonly string[];

  constructor(options: QueueAllowlistOptions) {
    this.#known = new Set(options.known);
    this.#patterns = [...options.patterns];
  }

  /** Throws 400 INVALID_QUEUE unless a caller may name `queue`; `extra` are the caller's own patterns. */
  assertAllowed(queue: string, extra: readonly string[] = []): void {
    assertUsableQueue(queue);
    if (this.#known.has(queue)) return;
    if ([...this.#patterns, ...extra].some((pattern) => matchesTaskPattern(pattern, queue))) return;
    throw new CelerityError(
      'INVALID_QUEUE',
      `Queue "${queue}" is not one of this gateway's queues (its tasks' queues, QUEUE_TYPES, QUEUE_MAX_PRIORITY, GATEWAY_ALLOWED_QUEUES) nor in the API key's queue: scopes`,
    );
  }
}
