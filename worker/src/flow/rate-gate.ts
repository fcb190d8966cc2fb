/**
 * Keyed, fleet-wide rate limits in the worker's pipeline, between admit and the claim: a task of
 * a type with `rateLimit` reserves its start in PostgreSQL (rate-store.ts, the rule in
 * rate-gcra.ts). Due now: it runs. Later: it goes round the broker's delay queues with its `eta`
 * set to the reservation and the reservation in a header, and is acked; back when due, it runs
 * without reserving again, unless its key was paused past the reservation since.
 *
 * `ctx.backoff(s)` and `RateLimitedError` pause the task's key (for a type without `rateLimit`,
 * the type as a whole): the run is given back to the store, uncounted, and the task waits out the
 * pause in the delay queues. Types without `rateLimit` see pauses by reading them at most every
 * TYPE_PAUSES_FRESH_MS (one statement per worker, not per task); a pause this worker sets it
 * knows at once.
 *
 * Not Celery's per-worker `rate_limit` (worker/src/rate-limit/), which this leaves as it is.
 */
import type { Catalogue } from '../../../shared/src/app/index.js';
import type { Logger } from '../../../shared/src/core/index.js';
import type { TaskMessage } from '../../../shared/src/broker/index.js';
import type { WorkerMetrics } from '../metrics.js';
import type { Admitted, Refusal } from '../pipeline/admit.js';
import { publishDelayed, type RepublishDeps } from '../pipeline/republish.js';
import type { Delivery, Disposition } from '../pipeline/types.js';
import { costMs, startsIn } from './rate-gcra.js';
import { rateTicket, WHOLE_TYPE_KEY } from './rate-key.js';
import type { RateStore } from './rate-store.js';

/** Header of a message deferred by its rate limit: the start it reserved (ISO 8601, the database's clock). */
const RATE_AT_HEADER = 'x-celerity-rate-at';

/** How stale this worker's view of the pauses of types without `rateLimit` may be, in ms. */
export const TYPE_PAUSES_FRESH_MS = 500;
/** Longest a task waits for that view to be read again, in ms; past it (the database slow or away) it goes on with the last one. */
const TYPE_PAUSES_WAIT_MS = 250;

/** Longest pause a task may ask for, in seconds (one day): past it a downstream's answer is more likely a mistake than advice. */
const MAX_PAUSE_S = 86_400;

/** Run now (spending `flowKey`'s budget), deferred (acked: back later), or refused (its key could not be had). */
export type RatePass = { kind: 'run'; flowKey: string } | { kind: 'deferred' } | { kind: 'refused'; refusal: Refusal };

export interface RateGateDeps {
  store: RateStore;
  republish: RepublishDeps;
  metrics: Pick<WorkerMetrics, 'rateLimitDeferred' | 'rateLimitPaused'>;
  catalogue: Catalogue;
  logger: Logger;
}

/** The task a pause is for, as settle knows it. */
export interface PausedRun {
  delivery: Delivery;
  message: TaskMessage;
  log: Logger;
  /** Its rate key (WHOLE_TYPE_KEY for a type without `rateLimit`). */
  flowKey: string;
  /** The lease holder of its run, whose STARTED row is given back. */
  leaseHolder: string | undefined;
}

export class RateGate {
  readonly #deps: RateGateDeps;
  /** Types without `rateLimit` paused as a whole: when each pause ends, this process's epoch ms. */
  #typePauses = new Map<string, number>();
  #typePausesReadAt = -Infinity;
  #reading: Promise<void> | undefined;

  constructor(deps: RateGateDeps) {
    this.#deps = deps;
  }

  /** Whether `task` starts now, and which budget it spends. */
  async admit(delivery: Delivery, message: TaskMessage, task: Admitted, log: Logger): Promise<RatePass> {
    const { definition } = task;
    const limit = definition.rateLimit;
    if (!limit) {
      const waitMs = await this.#typePauseLeft(definition.name);
      if (waitMs === 0) return { kind: 'run', flowKey: WHOLE_TYPE_KEY };
      await this.#defer(delivery, message, waitMs, {});
      log.debug('task type paused: deferred until the pause ends', { waitMs });
      return { kind: 'deferred' };
    }
    const ticket = rateTicket(definition, task.args, task.kwargs);
    if (!ticket.ok) {
      return { kind: 'refused', refusal: { kind: 'invalid-flow-key', reason: ticket.reason, attempts: task.attempts, deliveries: task.deliveries } };
    }
    const reservation = await this.#deps.store.reserve(definition.name, ticket.key, costMs(ticket.units, limit.perSecond), heldReservation(delivery));
    const waitMs = reservation ? startsIn(reservation.inMs, 0) : 0;
    if (!reservation || waitMs === 0) return { kind: 'run', flowKey: ticket.key };
    await this.#defer(delivery, message, waitMs, { [RATE_AT_HEADER]: reservation.reservedAt.toISOString() });
    log.debug('over its rate limit: deferred to its reserved start', { flowKey: ticket.key, waitMs });
    return { kind: 'deferred' };
  }

  /**
   * The task asked its key to pause for `pauseS` (ctx.backoff, RateLimitedError): the pause is
   * set for everyone, the run given back, and the task sent to wait it out; then the ack.
   */
  async pause(run: PausedRun, pauseS: number): Promise<Disposition> {
    const { delivery, message, log, flowKey } = run;
    const end = await this.#deps.store.pause(message.name, flowKey, Math.min(pauseS, MAX_PAUSE_S) * 1_000, message.id, run.leaseHolder);
    const waitMs = Math.max(0, Math.ceil(end.inMs));
    if (flowKey === WHOLE_TYPE_KEY && !this.#deps.catalogue.get(message.name)?.rateLimit) this.#typePauses.set(message.name, Date.now() + waitMs);
    this.#deps.metrics.rateLimitPaused.inc({ task: message.name });
    await this.#defer(delivery, message, waitMs, {});
    log.info('task paused its rate key: it runs again after the pause (not a failure, not a retry)', { flowKey, pauseS, waitMs });
    return 'ack';
  }

  /** Round the delay queues for `waitMs` with `eta` set accordingly (the 'not-due' check sends it round again if early). */
  async #defer(delivery: Delivery, message: TaskMessage, waitMs: number, headers: Record<string, string>): Promise<void> {
    const eta = new Date(Date.now() + waitMs).toISOString();
    await publishDelayed(this.#deps.republish, delivery, message.id, { ...headers, eta }, waitMs);
    this.#deps.metrics.rateLimitDeferred.inc({ task: message.name });
  }

  /**
   * Ms left of a pause of type `task` as a whole (0: none). While the view is older than
   * TYPE_PAUSES_FRESH_MS it is read again (one read at a time), and a task waits for that read
   * at most TYPE_PAUSES_WAIT_MS: past it (the database slow or away) it goes on with the last view.
   */
  async #typePauseLeft(task: string): Promise<number> {
    if (Date.now() - this.#typePausesReadAt > TYPE_PAUSES_FRESH_MS) {
      const reading = (this.#reading ??= this.#readTypePauses().finally(() => (this.#reading = undefined)));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([reading, new Promise<void>((resolve) => (timer = setTimeout(resolve, TYPE_PAUSES_WAIT_MS)))]);
      clearTimeout(timer);
    }
    return startsIn(this.#typePauses.get(task) ?? 0, Date.now());
  }

  async #readTypePauses(): Promise<void> {
    const { catalogue, store, logger } = this.#deps;
    // The view is as fresh as the moment its read began: a pause committed after that shows in the next read.
    const startedAt = Date.now();
    try {
      const unlimited = catalogue.names().filter((name) => !catalogue.get(name)?.rateLimit);
      const pauses = await store.typePauses(unlimited);
      const now = Date.now();
      this.#typePauses = new Map([...pauses].map(([task, inMs]) => [task, now + inMs]));
      this.#typePausesReadAt = startedAt;
    } catch (err) {
      // Tasks go on with the pauses last read (a pause is advice from a downstream, not a lock);
      // the next read is tried TYPE_PAUSES_FRESH_MS from now.
      logger.warn('could not read the pauses of task types; going on with the last ones read', { err });
      this.#typePausesReadAt = Date.now();
    }
  }

}

/** The reservation a deferred message carries, if any. */
function heldReservation(delivery: Delivery): Date | undefined {
  const value = delivery.properties.headers?.[RATE_AT_HEADER];
  if (typeof value !== 'string') return undefined;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? undefined : at;
}
