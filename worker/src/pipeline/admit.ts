/**
 * Step 2 of the pipeline: whether a decoded task runs here and now, and if not, why not.
 * The decisions are pure functions of the message, what the store says and the clock, so
 * they can be tested alone; `admit` looks the task up in the store only when the message
 * was seen before (a lookup per fresh message would cost every task a round trip). Whatever
 * admit says, a task runs only once its claim lands (task-runner.ts): the claim, not this
 * look-up, is what keeps two copies from running at once; `claimRefusal` reads a refused one.
 */
import {
  REPUBLISHED_HEADER,
  findUnstorable,
  isFinalState,
  stateOrder,
  type Logger,
  type TaskRecord,
} from '../../../shared/src/core/index.js';
import {
  checkArguments,
  type ArgumentIssue,
  type Catalogue,
  type TaskDefinition,
} from '../../../shared/src/app/index.js';
import { isExpired, parseEta, type TaskMessage } from '../../../shared/src/broker/index.js';
import type { Delivery } from './types.js';

/** How often this task has been tried (`attempts`) and how often this attempt started (`deliveries`). */
export interface Counts {
  attempts: number;
  deliveries: number;
}

/** A task cleared to run: what to run it with. */
export interface Admitted extends Counts {
  kind: 'run';
  definition: TaskDefinition;
  run: NonNullable<TaskDefinition['run']>;
  /** Set for a `cpu` task: the module pool threads import. Unset: run in-process. */
  cpuAppUrl: string | undefined;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/** Every reason a task does not run now. */
export type Refusal =
  /** Arguments the store cannot hold (a foreign client sent U+0000 or a lone surrogate). */
  | { kind: 'unstorable-arguments'; path: string; reason: string }
  /** Past its `expires`: REVOKED, as Celery does. */
  | { kind: 'expired' }
  /** Its `eta` is still ahead: back round the delay queues for `delayMs`. */
  | { kind: 'not-due'; delayMs: number }
  /** A copy of a task that already finished: answered from the store. */
  | { kind: 'finished'; stored: TaskRecord }
  /** Still running here, or under a live lease elsewhere: deferred for `leaseMs` (0 when running here without a lease). */
  | { kind: 'running'; leaseMs: number; holder: string | null }
  /** Its retry was already scheduled (the worker died before acking this copy). */
  | { kind: 'superseded'; retries: number }
  /** Its id belongs to a task of another name: never run, never recorded over that task. */
  | { kind: 'name-mismatch'; storedName: string }
  /** Revoked before it started: never run, REVOKED (`stored`: the store's REVOKED row, when it has one). */
  | { kind: 'revoked'; stored: TaskRecord | undefined }
  /** The store refused its start for good (a value it cannot hold): never run. */
  | { kind: 'unclaimable'; reason: string }
  /** Started too often without finishing: it may crash its worker. Counts are the starts so far. */
  | ({ kind: 'delivery-limit'; limit: number } & Counts)
  | ({ kind: 'unknown-task' } & Counts)
  | ({ kind: 'invalid-arguments'; issues: ArgumentIssue[] } & Counts)
  /** Its `rateLimit.key` or `units` function threw or gave something unusable (worker/src/flow/rate-key.ts). */
  | ({ kind: 'invalid-flow-key'; reason: string } & Counts)
  /** Its key's slots are taken: acked off the queue, waiting in PostgreSQL for its turn (worker/src/flow/). */
  | { kind: 'flow-parked' }
  /** Its key's slots are taken and its strategy is `cancel-newest`: REVOKED, never run. */
  | { kind: 'flow-cancelled'; reason: string }
  /** Its concurrency key function threw or returned no usable key: FAILURE. */
  | ({ kind: 'flow-key-error'; message: string } & Counts);

export type Admission = Admitted | Refusal;

/** Checks that need only the message and the clock, in the order Celery's worker makes them. */
export function screen(message: TaskMessage, now: number): Refusal | undefined {
  const unstorable = findUnstorable(message.args, 'args') ?? findUnstorable(message.kwargs, 'kwargs');
  if (unstorable) return { kind: 'unstorable-arguments', path: unstorable.path, reason: unstorable.reason };
  // Even a task not due yet is revoked once past `expires`.
  if (isExpired(message, now)) return { kind: 'expired' };
  // Not held unacked here until due, where consumer_timeout would cancel it.
  const eta = parseEta(message.eta);
  if (eta !== undefined && eta > now) return { kind: 'not-due', delayMs: eta - now };
  return undefined;
}

/** Whether this delivery may be a copy of a task seen before: redelivered, or re-published by the gateway. */
function seenBefore(delivery: Delivery): boolean {
  return delivery.redelivered || delivery.properties.headers?.[REPUBLISHED_HEADER] === true;
}

export interface RedeliveryFacts {
  message: TaskMessage;
  /** The task's row, when it was read (undefined: none, or the read failed). */
  stored: TaskRecord | undefined;
  /** This process runs the task now. */
  runningHere: boolean;
  now: number;
  deliveryLimit: number;
}

/**
 * For a copy seen before: a finished task is answered, a running one deferred, a superseded
 * one dropped, one started too often refused; otherwise the counts this start carries.
 */
export function checkRedelivery({ message, stored, runningHere, now, deliveryLimit }: RedeliveryFacts): Refusal | Counts {
  // Before anything is answered from the row: it may be another task's.
  if (stored && stored.name !== message.name) return { kind: 'name-mismatch', storedName: stored.name };
  if (stored && isFinalState(stored.state)) return { kind: 'finished', stored };
  // Running it now would run it twice at once (its worker's connection dropped, so the broker
  // sent the message again): wait for the lease.
  const leaseMs = Math.max(0, (stored?.leaseExpiresAt?.getTime() ?? 0) - now);
  const held = stored?.state === 'STARTED' && stored.retries === message.retries && leaseMs > 0;
  if (runningHere || held) return { kind: 'running', leaseMs, holder: stored?.worker ?? null };
  if (stored && isAhead(stored, message)) return { kind: 'superseded', retries: stored.retries };
  const deliveries = (stored && stored.retries === message.retries ? (stored.deliveries ?? 0) : 0) + 1;
  const attempts = Math.max(stored?.attempts ?? 0, message.retries) + 1;
  if (deliveries > deliveryLimit) return { kind: 'delivery-limit', limit: deliveryLimit, attempts: attempts - 1, deliveries: deliveries - 1 };
  return { attempts, deliveries };
}

/** The task is further on than this copy's start: a later attempt, or this attempt's retry already scheduled. */
function isAhead(stored: TaskRecord, message: Pick<TaskMessage, 'retries'>): boolean {
  return stateOrder(stored.state, stored.retries) > stateOrder('STARTED', message.retries);
}

/**
 * Why the store refused this delivery's claim, from the row read after it (`found`; undefined:
 * none). Checked in the order that keeps another task's row unread: its name first, then final
 * (answered), a live lease (deferred until it lapses), a state further on (dropped); anything
 * else changed between the claim and the read (a lease that just lapsed): deferred briefly,
 * and the next claim decides. `revoked` (the store holds a revocation of the id): the task ends
 * REVOKED here unless another final state or a live lease elsewhere says otherwise.
 */
export function claimRefusal(message: Pick<TaskMessage, 'name' | 'retries'>, found: TaskRecord | undefined, now: number, revoked = false): Refusal {
  if (found && found.name !== message.name) return { kind: 'name-mismatch', storedName: found.name };
  if (revoked && found?.state === 'REVOKED') return { kind: 'revoked', stored: found };
  if (found && isFinalState(found.state)) return { kind: 'finished', stored: found };
  const leaseMs = Math.max(0, (found?.leaseExpiresAt?.getTime() ?? 0) - now);
  if (found && leaseMs > 0) return { kind: 'running', leaseMs, holder: found.leaseHolder ?? found.worker ?? null };
  // Revoked while it ran elsewhere without terminate (a retry, a redelivery since): ends here.
  if (revoked) return { kind: 'revoked', stored: undefined };
  if (found && isAhead(found, message)) return { kind: 'superseded', retries: found.retries };
  return { kind: 'running', leaseMs: 0, holder: found?.leaseHolder ?? null };
}

/** The task's definition and parsed arguments, or why this worker cannot run it. */
function resolveTask(catalogue: Catalogue, appUrl: string | undefined, message: TaskMessage, counts: Counts): Admission {
  const definition = catalogue.get(message.name);
  const run = definition?.run;
  const cpuAppUrl = definition?.cpu ? appUrl : undefined;
  if (!definition || !run || (definition.cpu && !cpuAppUrl)) return { kind: 'unknown-task', ...counts };
  const check = checkArguments(definition, message.args, message.kwargs);
  if (!check.ok) return { kind: 'invalid-arguments', issues: check.issues, ...counts };
  return { kind: 'run', definition, run, cpuAppUrl, args: check.args, kwargs: check.kwargs, ...counts };
}

/** What `admit` needs besides the message. */
export interface AdmitDeps {
  catalogue: Catalogue;
  appUrl: string | undefined;
  deliveryLimit: number;
  /** Reads the task's row (for a copy seen before, and before a refusal that records the task). */
  lookup: (id: string) => Promise<TaskRecord | undefined>;
  /** Whether this process runs the task now. */
  runningHere: (id: string) => boolean;
  log: Logger;
}

/**
 * Runs the checks in order; the first refusal wins. A refusal that records the task (FAILURE,
 * REVOKED) reads its row first, fresh copy or not: when the id belongs to a task of another
 * name the message is refused as such, and nothing of it is replied or recorded (refusals are
 * rare, so this read costs the common case nothing).
 */
export async function admit(delivery: Delivery, message: TaskMessage, deps: AdmitDeps): Promise<Admission> {
  let read: Promise<TaskRecord | undefined> | undefined;
  const lookup = (): Promise<TaskRecord | undefined> =>
    (read ??= deps.lookup(message.id).catch((err: unknown) => {
      deps.log.warn('could not read the task of this message; going on without it', { err });
      return undefined;
    }));
  const early = screen(message, Date.now());
  if (early?.kind === 'expired') return whenExpired(await lookup(), message, Date.now());
  if (early) return early.kind === 'not-due' ? early : ownName(early, await lookup(), message);
  let counts: Counts = { attempts: message.retries + 1, deliveries: 1 };
  if (seenBefore(delivery)) {
    // A copy may belong to a task that finished before its ack was lost (worker killed between
    // recording and acking): answered from the store, never run twice.
    const checked = checkRedelivery({ message, stored: await lookup(), runningHere: deps.runningHere(message.id), now: Date.now(), deliveryLimit: deps.deliveryLimit });
    if ('kind' in checked) return checked;
    counts = checked;
  }
  const resolved = resolveTask(deps.catalogue, deps.appUrl, message, counts);
  return resolved.kind === 'run' ? resolved : ownName(resolved, await lookup(), message);
}

/**
 * An expired copy ends its task REVOKED, unless the row says otherwise: another task's id, a
 * task that finished (answered from the store), or a run elsewhere under a live lease (a copy
 * redelivered after its worker died while the task ran): deferred until the lease lapses, or
 * the store would refuse the REVOKED write over that run and the row would stay STARTED.
 */
function whenExpired(stored: TaskRecord | undefined, message: TaskMessage, now: number): Refusal {
  if (stored && stored.name !== message.name) return { kind: 'name-mismatch', storedName: stored.name };
  if (stored && isFinalState(stored.state)) return { kind: 'finished', stored };
  const leaseMs = Math.max(0, (stored?.leaseExpiresAt?.getTime() ?? 0) - now);
  if (stored?.state === 'STARTED' && leaseMs > 0) return { kind: 'running', leaseMs, holder: stored.leaseHolder ?? stored.worker ?? null };
  return { kind: 'expired' };
}

/** `refusal`, unless the stored row is another task's: then the message is refused for that. */
function ownName(refusal: Refusal, stored: TaskRecord | undefined, message: TaskMessage): Refusal {
  return stored && stored.name !== message.name ? { kind: 'name-mismatch', storedName: stored.name } : refusal;
}
