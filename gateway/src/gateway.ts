/**
 * The gateway process, assembled: broker connection, confirm publisher, reply listener,
 * result store, task ledger and the HTTP app. `Gateway.create` returns a fully connected
 * gateway or fails; `close()` drains and releases everything, once.
 */
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type express from 'express';
import type { Broker } from '../../shared/src/broker/index.js';
import { ApiKeyStore } from '../../shared/src/auth/index.js';
import { connectBroker, ControlClient, DeclaredQueues, declareTaskQueue } from '../../shared/src/broker/index.js';
import { ClientCore, Revoker, Workflows } from '../../shared/src/submit/index.js';
import { ScheduleAdmin } from '../../shared/src/schedule/index.js';
import { DEFAULTS, withGatewayDefaults, type GatewayConfig } from '../../shared/src/config/index.js';
import { DEFAULT_SCHEMA, TaskLog, WorkflowStore, busiestFlowKeys, createPool } from '../../shared/src/store/index.js';
import { createRegistry, shutdownSteps, type Logger } from '../../shared/src/core/index.js';
import { externalTask, Catalogue, type ScheduleDefinition, type TaskDefinition } from '../../shared/src/app/index.js';
import { createApp } from './app.js';
import { FLOW_KEY_SERIES, GatewayMetrics } from './metrics.js';
import { QueueStats } from './queue-stats.js';
import { QueueLimits, type QueueDepthSource } from './backpressure.js';
import { WorkerMonitor } from './worker-monitor.js';
import { FinishedListener } from './finished-listener.js';
import { EventStreams } from './events/event-streams.js';
import { TaskFeed } from './events/task-feed.js';

/**
 * Distinct queues one gateway declares for `options.queue` names outside the catalogue: a
 * caller naming new queues uses up this budget (then 503 QUEUE_UNAVAILABLE), never the
 * catalogue's queues, which are declared whatever it says.
 */
const MAX_AD_HOC_QUEUES = 100;

export interface GatewayOptions {
  config: Pick<GatewayConfig, 'amqpUrls' | 'databaseUrl' | 'heartbeatS' | 'maxBodyBytes' | 'maxWaitS' | 'externalTasks'> &
    Partial<Pick<GatewayConfig, 'idempotencyWindowHours' | 'queueMaxLength'>> &
    Partial<Pick<GatewayConfig, 'amqpTls' | 'authMode' | 'corsOrigins' | 'allowedHosts' | 'rateLimitPerMinute' | 'metricsToken' | 'maxArgsBytes'>> &
    Partial<Pick<GatewayConfig, 'maxBatch' | 'queueTypes' | 'allowedQueues' | 'maxConnections' | 'headersTimeoutMs' | 'bodyTimeoutMs' | 'messageHeaders'>>;
  logger: Logger;
  /** Database schema; tests use one each. @default 'celerity' */
  schema?: string;
  /** The tasks this gateway accepts (an app's, see `loadApp`); `config.externalTasks` join them. */
  tasks: readonly TaskDefinition[];
  /** The app's schedules (`loadApp`), listed with those stored at run time on /api/v1/schedules. @default none */
  schedules?: readonly ScheduleDefinition[];
  /** How long `close()` lets waiting requests finish, in ms. @default 10000 */
  drainMs?: number;
  /**
   * After the waits end, how long `close()` lets requests still in flight finish (a submit
   * awaiting its publisher confirm, a long-poll writing its 202) before cutting connections, in ms.
   * @default 15000 (longer than a publish's confirm timeout)
   */
  requestGraceMs?: number;
  /** Collect prom-client's default process metrics. @default true */
  processMetrics?: boolean;
  /** Time between queue samples (gauges, dashboard), in ms. @default 5000 */
  queueStatsIntervalMs?: number;
  /**
   * Store polls of waiting requests: first gap and longest gap, in ms (tests stretch them to
   * show that a notification, not a poll, answered). @default { min: 200, max: 1000 }
   */
  waitPollMs?: { min: number; max: number };
  /** Time between the heartbeat comments of task event streams, in ms. @default 15000 */
  eventHeartbeatMs?: number;
}

export type GatewayState = 'RUNNING' | 'DRAINING' | 'STOPPED';

export class Gateway {
  readonly app: express.Express;
  readonly metrics: GatewayMetrics;
  #state: GatewayState = 'RUNNING';
  #server: Server | undefined;
  #closing: Promise<void> | undefined;
  /** HTTP requests received and not yet answered (or abandoned by their client). */
  #requestsInFlight = 0;

  private constructor(
    private readonly parts: {
      broker: Broker;
      core: ClientCore;
      revoker: Revoker;
      finished: FinishedListener;
      queueStats: QueueStats;
      monitor: WorkerMonitor;
      feed: TaskFeed;
      eventStreams: EventStreams;
      control: ControlClient;
      pool: pg.Pool;
      logger: Logger;
      drainMs: number;
      requestGraceMs: number;
      maxWaitS: number;
      http: Pick<GatewayConfig, 'maxConnections' | 'headersTimeoutMs' | 'bodyTimeoutMs'>;
    },
    app: express.Express,
    metrics: GatewayMetrics,
  ) {
    this.app = app;
    this.metrics = metrics;
  }

  static async create(options: GatewayOptions): Promise<Gateway> {
    const { logger } = options;
    const config = withGatewayDefaults(options.config);
    // Tasks Python Celery workers run (GATEWAY_EXTERNAL_TASKS) join the catalogue: a name both
    // declare is refused at start-up by the Catalogue.
    const catalogue = new Catalogue(options.tasks).with((config.externalTasks ?? []).map((t) => externalTask(t.name, t.queue)));
    const queueTypes = catalogue.queueTypes(config.queueTypes);
    const pool = createPool({ url: config.databaseUrl, schema: options.schema, logger, applicationName: 'celerity-gateway', max: 10 });
    let broker: Broker | undefined;
    let finished: FinishedListener | undefined;
    try {
      broker = await connectBroker(config, logger, 'celerity-gateway');
      const keys = config.authMode === 'keys' ? new ApiKeyStore(pool) : undefined;
      if (keys && (await keys.countActive()) === 0) {
        logger.warn('AUTH_MODE=keys but no API key exists yet: every request will get 401. Create one with: npm run keys -- create --name ops --scopes admin');
      }
      const connectedBroker = broker;
      const metrics = new GatewayMetrics(createRegistry('gateway', options.processMetrics ?? true));
      metrics.startAtZero(catalogue);
      // Queue limits read the queue stats, which sample the queues the submit path declares:
      // the stats are made after the path, so the limits look them up when they check.
      const sampled: { stats?: QueueStats } = {};
      const intervalMs = options.queueStatsIntervalMs ?? DEFAULTS.queueStatsIntervalMs;
      const depths: QueueDepthSource = { get: (queue) => sampled.stats?.get(queue), intervalMs };
      // Queues named in options.queue have a budget of their own; the catalogue's are always declared.
      const queues = new DeclaredQueues(MAX_AD_HOC_QUEUES, (channel, queue) => declareTaskQueue(channel, queue, queueTypes), catalogue.defaultQueues());
      const revoker = await Revoker.create(connectedBroker, pool, logger, 'gateway');
      // The submit and wait path, the same as the Node client's; HTTP, auth and metrics are ours.
      const core = await ClientCore.create({
        revoker,
        broker,
        pool,
        logger,
        catalogue,
        queues,
        metrics,
        limits: new QueueLimits(config.queueMaxLength, depths),
        idempotencyWindowMs: config.idempotencyWindowHours * 3_600_000,
        replyQueuePrefix: 'celerity.reply.gateway.',
        ...(config.messageHeaders ? { headerFormat: config.messageHeaders } : {}),
        ...(options.waitPollMs ? { waitPollMs: options.waitPollMs } : {}),
        ...(config.maxArgsBytes !== undefined ? { maxArgsBytes: config.maxArgsBytes } : {}),
      });
      const { store, ledger } = core;
      // A task's final state was committed (PostgreSQL NOTIFY): the ledger's waits on it look at
      // once (another gateway's task), and a final reply it kept for reads is no longer needed.
      finished = await FinishedListener.create({
        databaseUrl: config.databaseUrl,
        schema: options.schema ?? DEFAULT_SCHEMA,
        logger,
        onFinished: (id) => ledger.notified(id),
      });
      metrics.ledgerSize = () => ledger.size;
      // The gateway exports the per-key counts: they are fleet-wide (one store), so one kind of
      // process that is scraped anyway reports them once, not every worker the same numbers.
      metrics.flowView = { read: () => busiestFlowKeys(pool, FLOW_KEY_SERIES), logger };
      const monitor = await WorkerMonitor.create(connectedBroker, { logger, metrics });
      const control = await ControlClient.create(connectedBroker, { logger });
      const stats = await QueueStats.create(connectedBroker, {
        queues: () => [...catalogue.defaultQueues(), ...queues.list()],
        logger,
        metrics,
        counters: (queue) => monitor.counts(queue),
        intervalMs,
      });
      sampled.stats = stats;
      const feed = await TaskFeed.create(connectedBroker, { logger });
      const taskLog = new TaskLog(pool);
      const eventStreams = new EventStreams({
        feed,
        ledger,
        readTask: (id) => core.read(id),
        readEvents: (id, after, limit) => taskLog.read(id, after, limit),
        logger,
        registry: metrics.registry,
        ...(options.eventHeartbeatMs ? { heartbeatMs: options.eventHeartbeatMs } : {}),
      });
      // The app asks the gateway for its state, and the gateway is built from the app.
      const self: { gateway?: Gateway } = {};
      const app = createApp({
        submitter: core.submitter,
        store,
        metrics,
        logger,
        broker: connectedBroker,
        core,
        revoker,
        maxBodyBytes: config.maxBodyBytes,
        maxWaitS: config.maxWaitS,
        security: {
          authMode: config.authMode,
          ...(keys ? { keys } : {}),
          corsOrigins: config.corsOrigins,
          allowedHosts: config.allowedHosts,
          queues: { known: [...catalogue.defaultQueues(), ...Object.keys(queueTypes.perQueue), ...Object.keys(queueTypes.maxPriority ?? {})], patterns: config.allowedQueues },
          rateLimitPerMinute: config.rateLimitPerMinute,
          ...(config.metricsToken !== undefined ? { metricsToken: config.metricsToken } : {}),
          maxBodyBytes: config.maxBodyBytes,
        },
        maxBatch: config.maxBatch,
        redrive: { broker: connectedBroker, publisher: core.publisher, taskQueues: queues },
        isDraining: () => self.gateway?.state !== 'RUNNING',
        readiness: { broker: () => connectedBroker.connected, database: () => store.ping() },
        dashboard: { queueStats: stats, monitor },
        flowKeys: (limit) => busiestFlowKeys(pool, limit),
        eventStreams,
        workerAdmin: { control },
        schedules: new ScheduleAdmin(pool, catalogue, options.schedules ?? []),
        workflows: new Workflows({ submitter: core.submitter, store: new WorkflowStore(pool), logger, maxTasks: config.maxBatch }),
      });
      self.gateway = new Gateway(
        {
          broker,
          core,
          revoker,
          finished,
          queueStats: stats,
          monitor,
          feed,
          eventStreams,
          control,
          pool,
          logger,
          drainMs: options.drainMs ?? DEFAULTS.gatewayDrainMs,
          requestGraceMs: options.requestGraceMs ?? DEFAULTS.gatewayRequestGraceMs,
          maxWaitS: config.maxWaitS,
          http: config,
        },
        app,
        metrics,
      );
      return self.gateway;
    } catch (err) {
      await finished?.close();
      await broker?.close();
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  get state(): GatewayState {
    return this.#state;
  }

  /** Queue depth and consumers sampled from the broker (backpressure and the dashboard read it). */
  get queueStats(): QueueStats {
    return this.parts.queueStats;
  }

  /** The submit and wait path (the same as the Node client's): its reply queue, task ledger, store. */
  get core(): ClientCore {
    return this.parts.core;
  }

  /** PostgreSQL's notifications of finished tasks, which feed the task ledger. */
  get finishedListener(): FinishedListener {
    return this.parts.finished;
  }

  /** Workers as seen on the event exchange. */
  get workerMonitor(): WorkerMonitor {
    return this.parts.monitor;
  }

  /** Starts the HTTP server; resolves with the address it listens on. */
  async listen(port: number, host: string): Promise<AddressInfo> {
    const { headersTimeoutMs, bodyTimeoutMs, maxConnections } = this.parts.http;
    // Node bounds receiving a request (its headers, then the whole of it) apart from answering
    // it: a slow client is cut (408) after these, a held `?wait=` answer is not. Node sweeps for
    // expired requests every `connectionsCheckingInterval`, 30 s by default, which would let a
    // 10 s bound run to 40 s: a quarter of the headers timeout (at most 1 s) keeps them close.
    const server = createServer(
      {
        headersTimeout: headersTimeoutMs,
        requestTimeout: bodyTimeoutMs,
        connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
      },
      this.app,
    );
    server.maxConnections = maxConnections;
    server.listen(port, host);
    this.#server = server;
    // Counted so that close() lets them finish instead of cutting their sockets.
    server.on('request', (_req, res: ServerResponse) => {
      this.#requestsInFlight++;
      res.once('close', () => this.#requestsInFlight--);
    });
    server.keepAliveTimeout = 65_000;
    await once(server, 'listening');
    return server.address() as AddressInfo;
  }

  /**
   * Drains, then closes, in this order: new submits get 503 and no new connection is
   * accepted; waiting requests (`?wait=`) get up to `drainMs` to receive their results, then
   * their 202; requests still in flight (a submit awaiting its publisher confirm, a 202 being
   * written) get up to `requestGraceMs` to be answered; only then are connections closed and
   * the submit path, broker and database released. Every step runs even when one fails.
   * Safe to call twice: the second caller gets the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const { broker, core, revoker, finished, queueStats, monitor, feed, eventStreams, control, pool, logger, drainMs, requestGraceMs } = this.parts;
    this.#state = 'DRAINING';
    // Streams never end by themselves: their clients resume on another gateway (Last-Event-ID).
    eventStreams.closeAll();
    const server = this.#server;
    const serverClosed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    server?.closeIdleConnections();
    await until(() => core.ledger.waits.size === 0, Date.now() + drainMs);
    core.ledger.cancelAll();
    await until(() => this.#requestsInFlight === 0, Date.now() + requestGraceMs);
    if (this.#requestsInFlight > 0) logger.warn('gateway shutdown: cutting requests still in flight after the grace period', { requests: this.#requestsInFlight, requestGraceMs });
    const steps = shutdownSteps(logger, 'gateway shutdown');
    const step = steps.run;
    await step('closing the HTTP server', async () => {
      // Answered requests may still hold keep-alive sockets.
      server?.closeAllConnections();
      await serverClosed;
    });
    await step('closing the submit path', () => core.close());
    await step('closing the revoke broadcast', () => revoker.close());
    await step('closing the task notifications', () => finished.close());
    await step('stopping the queue stats', () => queueStats.close());
    await step('closing the event monitor', () => monitor.close());
    await step('closing the task feed', () => feed.close());
    await step('closing the remote-control channel', () => control.close());
    await step('closing the broker connection', () => broker.close());
    await step('closing the database pool', () => pool.end());
    this.#state = 'STOPPED';
    if (steps.failures.length > 0) logger.warn('gateway stopped with errors', { failures: steps.failures.length });
    else logger.info('gateway stopped');
  }
}

/** Resolves once `done()` holds or `deadline` (epoch ms) passes, checking every 20 ms. */
async function until(done: () => boolean, deadline: number): Promise<void> {
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}
