/**
 * Runs one delivered task message to its end, as a pipeline read top to bottom:
 * decode → admit → run → settle, each step in worker/src/pipeline/. The caller (the consumer)
 * acknowledges the message only after `run()` resolves: late acknowledgement, so a worker that
 * dies mid-task leaves the message to be redelivered, never lost. A throw means "not settled":
 * the consumer requeues the message (at once when the worker is stopping, else with backoff).
 */
import { hostname } from 'node:os';
import { resultModeOf, stamp, type Logger } from '../../shared/src/core/index.js';
import { type Broker, type Publisher, type DeclaredQueues } from '../../shared/src/broker/index.js';
import { type Catalogue } from '../../shared/src/app/index.js';
import { REVOKED_ERROR_TYPE, type TaskStore, type WorkflowStore } from '../../shared/src/store/index.js';
import type { WorkerMetrics } from './metrics.js';
import type { TaskHooks } from './task-hooks.js';
import type { ThreadPool } from './thread-pool.js';
import type { RevocationsView } from './revoke/worker-revocations.js';
import { RateGate } from './flow/rate-gate.js';
import type { RateStore } from './flow/rate-store.js';
import { admit, type Admitted } from './pipeline/admit.js';
import { UNLIMITED, type FlowEntry, type FlowGate } from './flow/flow-gate.js';
import { decode } from './pipeline/decode.js';
import { Leases } from './pipeline/lease.js';
import { observeStart, taskInfo } from './pipeline/observe.js';
import { baseWrite, claimRun } from './pipeline/record.js';
import { claimsRun } from './pipeline/rows.js';
import { runTask, type RunDeps } from './pipeline/run.js';
import { settleMalformed, settleRefusal, settleVerdict, type Job, type SettleDeps } from './pipeline/settle.js';
import type { FaultPoint } from './pipeline/fault-point.js';
import { DEFAULT_LEASE_MS, type Delivery, type Disposition, type ReplySender } from './pipeline/types.js';
import { judge } from './pipeline/verdict.js';

export { TaskInterruptedError, type Delivery, type Disposition, type ReplySender } from './pipeline/types.js';

export interface TaskRunnerDeps {
  /** The tasks this worker runs: `run` in-process, or by name in the thread pool when `cpu`. */
  catalogue: Catalogue;
  /** `file:` URL of the app module, which pool threads import to find CPU tasks. */
  appUrl?: string;
  store: TaskStore;
  pool: ThreadPool;
  metrics: WorkerMetrics;
  logger: Logger;
  /** This worker's name, recorded with each task. @default `celerity@host:pid` */
  workerName?: string;
  /** Stops retrying a failed result write (the worker is being forced down). */
  stopping: AbortSignal;
  /** Broker connection and confirmed publishing, for retries, delays and dead letters. */
  broker: Broker;
  publisher: Publisher;
  /** Dead-letter queues (`<queue>.dead`) and delay queues declared so far. */
  deadLetterQueues: DeclaredQueues;
  delayQueues: DeclaredQueues;
  /** Hard time limit for tasks that set none, in seconds. */
  timeLimitS: number;
  /** Starts without finishing after which a message is dead-lettered. */
  deliveryLimit: number;
  /** Told when a task is received, started and finished (worker events). */
  hooks?: TaskHooks;
  /** Where tasks' progress, output and log lines go (docs/events.md). */
  reports?: RunDeps['reports'];
  /** Largest result stored and replied, as JSON bytes; bigger fails the task. @default no limit */
  maxResultBytes?: number;
  /** How long a result write is retried while the database is away, in ms. @default 120000 */
  recordRetryMs?: number;
  /**
   * Lease a running task's delivery holds on its STARTED row, in ms, renewed every third of it:
   * any other copy that finds it live is deferred, not run; after a worker dies its tasks
   * run again once their leases lapse (at most this much later). @default 6000
   */
  leaseMs?: number;
  /** Keyed, fleet-wide rate limits' rows (defineTask's `rateLimit`, ctx.backoff): flow/rate-gate.ts. */
  rates: RateStore;
  /** Revokes heard by this worker: a run claimed just as its revoke landed ends REVOKED; `terminate` stops a running one. @default none */
  revocations?: RevocationsView;
  /** Per-key concurrency of the task types that have a limit (flow/flow-gate.ts). @default none: limits are not applied */
  flow?: FlowGate;
  /** For the chaos tests only: die at this point of settling (pipeline/fault-point.ts). @default none */
  faultPoint?: FaultPoint;
  /** Workflows, and the task queues a chain's next step or a chord's body is sent to (pipeline/follow.ts). */
  canvas?: { workflows: WorkflowStore; taskQueues: DeclaredQueues };
}

export function defaultWorkerName(): string {
  return `celerity@${hostname()}:${process.pid}`;
}

export class TaskRunner {
  readonly #deps: TaskRunnerDeps;
  readonly #worker: string;
  /** The leases this process's deliveries hold now, which it renews. */
  readonly #leases: Leases;
  readonly #settle: SettleDeps;
  readonly #run: RunDeps;
  readonly #rates: RateGate;

  constructor(deps: TaskRunnerDeps) {
    this.#deps = deps;
    this.#worker = deps.workerName ?? defaultWorkerName();
    const leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
    this.#leases = new Leases(deps.store, leaseMs, deps.logger);
    this.#run = { pool: deps.pool, timeLimitS: deps.timeLimitS, ...(deps.reports ? { reports: deps.reports } : {}) };
    const { store, logger, stopping, recordRetryMs, publisher, deadLetterQueues, delayQueues } = deps;
    const republish = { publisher, deadLetterQueues, delayQueues, logger };
    this.#rates = new RateGate({ store: deps.rates, republish, metrics: deps.metrics, catalogue: deps.catalogue, logger });
    this.#settle = {
      recorder: { store, logger, stopping, ...(recordRetryMs !== undefined ? { recordRetryMs } : {}) },
      republish,
      rates: this.#rates,
      metrics: deps.metrics,
      hooks: deps.hooks,
      logger: deps.logger,
      workerName: this.#worker,
      leaseMs,
      ...(deps.faultPoint ? { faultPoint: deps.faultPoint } : {}),
      ...(deps.canvas ? { follow: { ...deps.canvas, publisher, catalogue: deps.catalogue, logger, metrics: deps.metrics } } : {}),
    };
  }

  get workerName(): string {
    return this.#worker;
  }

  /** Resolves once the message may be acked; `signal` fires when the worker stops. */
  async run(delivery: Delivery, reply: ReplySender, signal: AbortSignal): Promise<Disposition> {
    const { catalogue, hooks, store } = this.#deps;

    // 1. Decode: not a task message at all is recorded (when it names one) and dead-lettered.
    const decoded = decode(delivery);
    if (decoded.kind === 'malformed') return settleMalformed(this.#settle, delivery, decoded.error);
    const { message } = decoded;
    const definition = catalogue.get(message.name);
    const known = definition !== undefined;
    const log = this.#deps.logger.child({ taskId: message.id, task: message.name, queue: delivery.queue, attempt: message.retries + 1 });
    // What the store keeps of this run: the submit's choice, else the task's (pipeline/rows.ts).
    const mode = resultModeOf(delivery.properties.headers, definition?.result);
    const job: Job = { delivery, message, reply, log, known, metricTask: known ? message.name : '(unknown)', mode };
    hooks?.received(taskInfo(message, delivery.queue));

    // 2. Admit: expired, not due, already final, running elsewhere, started too often, unknown, invalid.
    const admission = await admit(delivery, message, {
      catalogue,
      appUrl: this.#deps.appUrl,
      deliveryLimit: this.#deps.deliveryLimit,
      lookup: (id) => store.get(id),
      runningHere: (id) => this.#leases.has(id),
      log,
    });
    stamp(message.id, 'admitted');
    if (admission.kind !== 'run') return settleRefusal(this.#settle, job, admission);
    // Keyed rate limit (flow/rate-gate.ts): over its key's budget, the task waits in the delay queues.
    const rate = await this.#rates.admit(delivery, message, admission, log);
    if (rate.kind !== 'run') return rate.kind === 'deferred' ? 'ack' : settleRefusal(this.#settle, job, rate.refusal);

    // 2b. Flow control (flow/): a task of a limited type takes its key's slot, or waits for one
    // out of the queue; the slot is given back, and handed on, when its run ends however it ends.
    const flow = (await this.#deps.flow?.enter(admission, message, delivery)) ?? UNLIMITED;
    if (flow.kind !== 'enter') return settleRefusal(this.#settle, job, flow);
    try {
      return await this.#claimAndRun({ ...job, flowKey: rate.flowKey }, admission, flow, signal);
    } finally {
      await this.#deps.flow?.leave(flow);
    }
  }

  /** Steps 3 to 5, for an admitted task (holding its key's slot when its type is limited). */
  async #claimAndRun(job: Job, admission: Admitted, flow: FlowEntry, signal: AbortSignal): Promise<Disposition> {
    const { hooks, metrics, store } = this.#deps;
    const { delivery, message, log, mode } = job;
    // 3. Claim, then run: STARTED with this delivery's lease is committed before the task runs;
    // a copy the store refuses (final, under another live lease, another task's id) never runs.
    // Result modes `final` (on a first delivery) and `none` run unclaimed (pipeline/rows.ts).
    const hold = this.#leases.holderFor(message.id, this.#worker);
    const startedAt = new Date();
    const start = { ...baseWrite(delivery, message, this.#worker, admission), startedAt, leaseHolder: hold.holder };
    let write = start;
    if (claimsRun(mode, delivery)) {
      const claim = await claimRun(store, start, this.#leases.leaseMs);
      if (!claim.claimed) {
        // Another copy runs the task now: the slot it took over is that copy's.
        if (claim.refusal.kind === 'running') this.#deps.flow?.keep(flow);
        return settleRefusal(this.#settle, job, claim.refusal);
      }
      this.#leases.hold(hold);
      write = { ...start, ...claim.counts };
    }
    const revocations = this.#deps.revocations;
    // The claim's snapshot may predate a revoke committed meanwhile (no row yet to refuse it): the broadcast tells.
    if (revocations?.isRevoked(message.id)) {
      const revoked = { kind: 'revoked' as const, error: { type: REVOKED_ERROR_TYPE, message: 'revoked' } };
      try {
        return await settleVerdict(this.#settle, { ...job, firstRow: Promise.resolve() }, { ...write, startedAt }, revoked);
      } finally {
        this.#leases.release(hold.token);
      }
    }
    const watch = revocations?.track(message.id);
    observeStart(metrics, hooks, message, delivery, job.metricTask, startedAt.getTime());
    metrics.inFlight.inc({ queue: delivery.queue });
    const timer = metrics.duration.startTimer({ task: job.metricTask, queue: delivery.queue });
    try {
      stamp(message.id, 'run.start');
      const outcome = await runTask(admission, message, delivery.queue, signal, this.#run, log, watch?.signal);
      stamp(message.id, 'run.end');

      // 4. Verdict and settle: a final state is replied, then committed and dead-lettered if a
      // failure; a next attempt is scheduled, then recorded. 5. Ack: the consumer's, once this resolves.
      const verdict = judge(outcome, admission.definition, message, delivery.properties, this.#deps.maxResultBytes);
      // startedAt: when the task executed (a CPU task's wait for a thread is not its time). The
      // reply waits for the task's first row (settle.ts): its claim, committed before it ran;
      // unclaimed, its final row (`final`), or nothing (`none`).
      const firstRow = claimsRun(mode, delivery) || mode === 'none' ? Promise.resolve() : undefined;
      return await settleVerdict(this.#settle, { ...job, ...(firstRow ? { firstRow } : {}) }, { ...write, startedAt: outcome.startedAt }, verdict);
    } finally {
      timer();
      metrics.inFlight.dec({ queue: delivery.queue });
      this.#leases.release(hold.token);
      watch?.release();
    }
  }
}
