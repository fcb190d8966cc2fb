/**
 * A worker process, assembled: broker connection, consumer, task runner, thread pool,
 * result store, metrics server and retention sweep. `Worker.create` returns a worker that is
 * consuming, or fails. Its lifecycle:
 *
 *   RUNNING ─stop()─► DRAINING (no new messages; in-flight tasks get `graceMs`) ─► STOPPED
 *
 * A worker that cannot start never exists: Worker.create rejects and closes what it opened.
 */
import type { Server } from 'node:http';
import type pg from 'pg';
import type { Broker } from '../../shared/src/broker/index.js';
import {
  connectBroker,
  Publisher,
  DeclaredTopology,
  QUORUM_DELIVERY_LIMIT,
  queueTypeOf,
} from '../../shared/src/broker/index.js';
import { withWorkerDefaults } from '../../shared/src/config/index.js';
import { FlowStore, IdempotencyKeys, RevocationStore, TaskLog, TaskStore, WorkflowStore, createPool } from '../../shared/src/store/index.js';
import { Catalogue } from '../../shared/src/app/index.js';
import {
  CelerityError,
  createRegistry,
  shutdownSteps,
  type Logger,
  type QueueTypes,
} from '../../shared/src/core/index.js';
import { Consumer } from './consumer.js';
import type { Autoscaler } from './autoscale/autoscaler.js';
import type { Concurrency } from './autoscale/concurrency.js';
import { startConcurrencyControl } from './autoscale/start.js';
import type { WorkerOptions, WorkerState } from './worker-options.js';
import { RateLimits } from './rate-limit/rate-limits.js';
import { PidboxNode } from './control/pidbox-node.js';
import { controlWorker } from './control/control-worker.js';
import { WorkerEvents } from './events.js';
import { TaskReports } from './reports/task-reports.js';
import { allHooks, type TaskHooks } from './task-hooks.js';
import { WorkerMetrics } from './metrics.js';
import { serverPort } from './metrics-server.js';
import { startWorkerEndpoints } from './worker-endpoints.js';
import { RetentionSweeper } from './retention.js';
import { TaskRunner, defaultWorkerName } from './task-runner.js';
import { WorkerRevocations } from './revoke/worker-revocations.js';
import { FlowGate } from './flow/flow-gate.js';
import type { RevokeOptions, RevokeOutcome } from '../../shared/src/submit/index.js';
import { ThreadPool } from './thread-pool.js';
import { RateStore } from './flow/rate-store.js';

export class Worker {
  #state: WorkerState = 'RUNNING';
  #stopping: Promise<void> | undefined;

  private constructor(
    private readonly parts: {
      broker: Broker;
      publisher: Publisher;
      consumer: Consumer;
      concurrency: Concurrency;
      autoscaler: Autoscaler | undefined;
      rateLimits: RateLimits;
      pool: pg.Pool;
      store: TaskStore;
      threads: ThreadPool;
      server: Server | undefined;
      sweeper: RetentionSweeper;
      flow: FlowGate;
      events: WorkerEvents | undefined;
      revocations: WorkerRevocations;
      reports: TaskReports;
      mailbox: PidboxNode;
      forceStop: AbortController;
      logger: Logger;
      graceMs: number;
    },
    readonly metrics: WorkerMetrics,
    readonly name: string,
  ) {}

  static async create(options: WorkerOptions): Promise<Worker> {
    const { logger } = options;
    const config = withWorkerDefaults(options.config);
    const catalogue = new Catalogue(options.tasks.filter((t) => !t.external));
    const queueTypes = catalogue.queueTypes(config.queueTypes);
    const cpuTasks = options.tasks.filter((t) => t.cpu).map((t) => t.name);
    if (cpuTasks.length > 0 && !options.appUrl) {
      throw new CelerityError(
        'INVALID_APP',
        `CPU tasks (${cpuTasks.join(', ')}) run on worker threads that import their module: give the worker the app module (app or appUrl), not only its tasks`,
      );
    }
    const metrics = new WorkerMetrics(createRegistry('worker', options.processMetrics ?? true));
    // An autoscaling worker starts at its minimum, as Celery's does.
    const concurrency = config.autoscale?.min ?? config.concurrency;
    const rateLimits = new RateLimits({ knows: (task) => catalogue.get(task) !== undefined, logger, onDelayed: (task) => metrics.rateLimitDelays.inc({ task }) });
    const pool = createPool({
      url: config.databaseUrl,
      schema: options.schema,
      logger,
      applicationName: 'celerity-worker',
      max: 4,
    });
    const threads = new ThreadPool(config.cpuThreads, logger);
    const store = new TaskStore(pool, { logger });
    const forceStop = new AbortController();
    let broker: Broker | undefined;
    let server: Server | undefined;
    try {
      // CPU tasks fail at start-up, not one by one, when the threads cannot load the app (a loader they lack).
      if (cpuTasks.length > 0 && options.appUrl) await threads.check(options.appUrl, cpuTasks);
      await store.ping();
      broker = await connectBroker(config, logger, 'celerity-worker');
      warnOnDeliveryLimit(config.queues, queueTypes, config.deliveryLimit, logger);
      // Dead-letter and delay queues are declared on first use and again after a reconnect
      // (the consumed task queues are declared by the consumer, on its channel).
      const { deadLetterQueues, delayQueues, taskQueues } = await DeclaredTopology.create(broker, {
        logger,
        queueTypes,
      });
      const publisher = await Publisher.create(broker, { logger });
      const self: { worker?: Worker } = {};
      const workerName = options.name ?? defaultWorkerName();
      const revocations = await WorkerRevocations.create(broker, pool, { logger, workerName, onApplied: (terminate) => metrics.revokes.inc({ terminate: String(terminate) }) });
      const events =
        options.events === false
          ? undefined
          : await WorkerEvents.create(broker, {
              hostname: workerName,
              queues: config.queues,
              concurrency: () => self.worker?.concurrency ?? concurrency,
              inFlight: () => self.worker?.inFlight ?? 0,
              logger,
              metrics,
              ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
              taskEvents: config.taskEvents,
              // Set below, before the first heartbeat (which start() sends).
              metricsPort: () => (server ? serverPort(server) : undefined),
            });
      const reports = await TaskReports.create(broker, { store: new TaskLog(pool), logger, registry: metrics.registry });
      const rates = new RateStore(pool);
      const flow = new FlowGate({
        store: new FlowStore(pool),
        publisher,
        taskQueues,
        catalogue,
        revoke: (ids, revoke) => revocations.revoke(ids, revoke),
        workerName,
        logger,
        metrics: metrics.flow,
      });
      const runner = new TaskRunner({
        broker,
        publisher,
        deadLetterQueues,
        delayQueues,
        timeLimitS: config.timeLimitS,
        deliveryLimit: config.deliveryLimit,
        catalogue,
        ...(options.appUrl ? { appUrl: options.appUrl } : {}),
        store,
        pool: threads,
        metrics,
        logger,
        stopping: forceStop.signal,
        workerName,
        revocations,
        flow,
        ...withHooks(allHooks(events, reports)),
        reports,
        ...(config.maxResultBytes !== undefined ? { maxResultBytes: config.maxResultBytes } : {}),
        ...(options.faultPoint ? { faultPoint: options.faultPoint } : {}),
        canvas: { workflows: new WorkflowStore(pool), taskQueues },
        rates,
      });
      metrics.startAtZero(catalogue, config.queues, concurrency);
      if (options.metrics) {
        const view = () => self.worker && { state: self.worker.state, inFlight: self.worker.inFlight, consuming: self.worker.consuming };
        server = await startWorkerEndpoints(options.metrics, { registry: metrics.registry, view, broker, store, pool, logger });
      }
      const consumer = await Consumer.create(broker, runner, {
        queues: config.queues,
        concurrency,
        logger,
        queueTypes,
        beforeStart: (headers, signal) => rateLimits.beforeStart(headers, signal),
      });
      const control = startConcurrencyControl({ initial: concurrency, bounds: config.autoscale, timing: options.autoscaleTiming, consumer, broker, metrics, logger });
      metrics.watchConsuming(() => consumer.consuming);
      const mailbox = await PidboxNode.create(broker, {
        worker: controlWorker({
          target: () => self.worker ?? { name: workerName },
          consumer,
          metrics,
          config,
          tasks: catalogue,
          shutdown: options.onRemoteShutdown ?? (() => void self.worker?.stop()),
        }),
        logger,
        registry: metrics.registry,
        queueTypes,
        version: '0.1.0',
      });
      const retentionMs = config.resultRetentionHours * 3_600_000;
      const sweeper = new RetentionSweeper(store, retentionMs, logger, new IdempotencyKeys(pool, retentionMs), new RevocationStore(pool), rates);
      sweeper.start();
      flow.start();
      self.worker = new Worker(
        { broker, publisher, consumer, ...control, rateLimits, pool, store, threads, server, sweeper, flow, events, revocations, reports, mailbox, forceStop, logger, graceMs: config.graceMs },
        metrics,
        runner.workerName,
      );
      events?.start();
      control.autoscaler?.start();
      return self.worker;
    } catch (err) {
      await broker?.close().catch(() => undefined);
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
      await threads.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  get state(): WorkerState {
    return this.#state;
  }

  get inFlight(): number {
    return this.parts.consumer.inFlight;
  }

  /** Subscribed to its queues on a live channel (false while reconnecting and once stopping). */
  get consuming(): boolean {
    return this.parts.consumer.consuming;
  }

  /** Tasks it runs at once now (its prefetch): follows `resize` and the autoscaler. */
  get concurrency(): number {
    return this.parts.concurrency.value;
  }

  /** The autoscaler's bounds now (Celery's `stats` shows them), or undefined without `--autoscale`. */
  get autoscale(): { max: number; min: number } | undefined {
    return this.parts.autoscaler?.bounds;
  }

  /**
   * Sets the concurrency at run time (Celery's pool_grow / pool_shrink): the prefetch follows;
   * running tasks are not cut on a shrink, their slots are not refilled. With `--autoscale` the
   * bounds widen to include `n`. RangeError outside 1..10000.
   */
  resize(n: number): void {
    if (this.parts.concurrency.set(n, 'resize')) this.parts.autoscaler?.widen(n);
  }

  /**
   * Celery's per-worker task rate limit: `'10/s'`, `'100/m'`, `'1000/h'` (a bare number is per
   * second); `null` or `0` removes it. Starts beyond it are delayed, never failed. Throws a
   * CelerityError INVALID_RATE_LIMIT (bad rate) or UNKNOWN_TASK (not a task of this worker).
   */
  setRateLimit(taskName: string, rate: string | null): void {
    this.parts.rateLimits.set(taskName, rate);
  }

  /** The port of the metrics server, when there is one. */
  get metricsPort(): number | undefined {
    return this.parts.server ? serverPort(this.parts.server) : undefined;
  }

  /**
   * Graceful stop: cancel the consumers, let in-flight tasks finish and be acked within the
   * grace period, requeue the rest, close everything (every step runs even if one fails).
   * Safe to call twice: the second caller gets the same promise.
   */
  stop(graceMs?: number): Promise<void> {
    this.#stopping ??= this.#stop(graceMs ?? this.parts.graceMs);
    return this.#stopping;
  }

  /**
   * Revokes tasks `ids` from this worker (Celery's remote control calls it): recorded durably
   * (idempotent; no worker starts them), applied here (with `terminate`, a task running here is
   * stopped and ends REVOKED), and broadcast to the other workers.
   */
  revoke(ids: readonly string[], options?: { terminate?: boolean; reason?: string }): Promise<RevokeOutcome> {
    const given: RevokeOptions = options ?? {};
    return this.parts.revocations.revoke(ids, given);
  }

  /** For a second signal: abort every running task (they are requeued) and stop retrying result writes. */
  force(): void {
    this.parts.forceStop.abort();
    this.parts.consumer.abortAll();
  }

  async #stop(graceMs: number): Promise<void> {
    const { broker, publisher, consumer, pool, store, threads, server, sweeper, flow, events, revocations, reports, mailbox, forceStop, logger, autoscaler, rateLimits } = this.parts;
    this.#state = 'DRAINING';
    // Rate-limited deliveries not started yet go back to their queue at once.
    rateLimits.close();
    logger.info('worker draining', { inFlight: consumer.inFlight, graceMs });
    const steps = shutdownSteps(logger, 'worker shutdown');
    const step = steps.run;
    await step('closing the remote-control mailbox', () => mailbox.close());
    await step('stopping the autoscaler', async () => autoscaler?.stop());
    await step('stopping the consumer', async () => {
      const { finished, requeued } = await consumer.stop(graceMs);
      forceStop.abort();
      logger.info('consumer stopped', { finished, requeued });
    });
    await step('stopping the retention sweep', () => sweeper.stop());
    await step('stopping the concurrency slots\' renewal and sweep', () => flow.close());
    await step('closing the revoke listener', () => revocations.close());
    await step('flushing the result store', () => store.idle());
    await step('announcing worker-offline', async () => events?.stop());
    await step('closing the task events channel', () => reports.close());
    await step('closing the thread pool', () => threads.close());
    await step('closing the publisher', () => publisher.close());
    await step('closing the broker connection', () => broker.close());
    await step('closing the database pool', () => pool.end());
    await step('closing the metrics server', () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));
    this.#state = 'STOPPED';
    if (steps.failures.length > 0) logger.warn('worker stopped with errors', { failures: steps.failures.length });
    else logger.info('worker stopped');
  }
}

function withHooks(hooks: TaskHooks | undefined): { hooks?: TaskHooks } {
  return hooks ? { hooks } : {};
}

/** The broker would dead-letter a crashing message before the worker records FAILURE. */
function warnOnDeliveryLimit(queues: readonly string[], queueTypes: QueueTypes, deliveryLimit: number, logger: Logger): void {
  const quorum = queues.filter((queue) => queueTypeOf(queueTypes, queue) === 'quorum');
  if (quorum.length === 0 || deliveryLimit < QUORUM_DELIVERY_LIMIT) return;
  logger.warn('WORKER_DELIVERY_LIMIT is not below the quorum queues\' x-delivery-limit: the broker may dead-letter first, leaving the task unfinished in the store', {
    queues: quorum,
    deliveryLimit,
    brokerDeliveryLimit: QUORUM_DELIVERY_LIMIT,
  });
}
