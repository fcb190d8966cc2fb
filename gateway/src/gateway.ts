/**
 * The gateway process, assembled: broker connection, confirm publisher, reply listener,
 * result store, waiters and the HTTP app. `Gateway.create` returns a fully connected
 * gateway or fails; `close()` drains and releases everything, once.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type express from 'express';
import {
  ApiKeyStore,
  Broker,
  DEFAULTS,
  Publisher,
  IdempotencyKeys,
  TaskQueues,
  TaskStore,
  declareDelayQueue,
  declareTaskQueue,
  isQueueUnavailable,
  catalogue as defaultCatalogue,
  DEFAULT_SCHEMA,
  createPool,
  createRegistry,
  externalTask,
  type Catalogue,
  type GatewayConfig,
  type Logger,
} from '../../shared/src/index.js';
import { createApp } from './app.js';
import { GatewayMetrics } from './metrics.js';
import { QueueStats } from './queue-stats.js';
import { QueueLimits } from './backpressure.js';
import { WorkerMonitor } from './worker-monitor.js';
import { FinishedListener } from './finished-listener.js';
import { ReplyListener } from './replies.js';
import { ReplyRecorder } from './reply-recorder.js';
import { Submitter } from './submit.js';
import { TaskWaiters } from './waiters.js';

export interface GatewayOptions {
  config: Pick<GatewayConfig, 'amqpUrls' | 'databaseUrl' | 'heartbeatS' | 'maxBodyBytes' | 'maxWaitS' | 'externalTasks'> &
    Partial<Pick<GatewayConfig, 'idempotencyWindowHours' | 'queueMaxLength'>> &
    Partial<Pick<GatewayConfig, 'amqpTls' | 'authMode' | 'corsOrigins' | 'rateLimitPerMinute' | 'metricsToken' | 'maxArgsBytes'>> &
    Partial<Pick<GatewayConfig, 'maxBatch' | 'queueTypes'>>;
  logger: Logger;
  /** Database schema; tests use one each. @default 'celerity' */
  schema?: string;
  catalogue?: Catalogue;
  /** How long `close()` lets waiting requests finish, in ms. @default 10000 */
  drainMs?: number;
  /** Collect prom-client's default process metrics. @default true */
  processMetrics?: boolean;
  /** Time between queue samples (gauges, dashboard), in ms. @default 5000 */
  queueStatsIntervalMs?: number;
  /**
   * Store polls of waiting requests: first gap and longest gap, in ms (tests stretch them to
   * show that a notification, not a poll, answered). @default { min: 200, max: 1000 }
   */
  waitPollMs?: { min: number; max: number };
}

export type GatewayState = 'RUNNING' | 'DRAINING' | 'STOPPED';

export class Gateway {
  readonly app: express.Express;
  readonly metrics: GatewayMetrics;
  #state: GatewayState = 'RUNNING';
  #server: Server | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    private readonly parts: {
      broker: Broker;
      publisher: Publisher;
      replies: ReplyListener;
      finished: FinishedListener;
      queueStats: QueueStats;
      monitor: WorkerMonitor;
      pool: pg.Pool;
      store: TaskStore;
      waiters: TaskWaiters;
      logger: Logger;
      drainMs: number;
      maxWaitS: number;
    },
    app: express.Express,
    metrics: GatewayMetrics,
  ) {
    this.app = app;
    this.metrics = metrics;
  }

  static async create(options: GatewayOptions): Promise<Gateway> {
    const { config, logger } = options;
    // Tasks Python Celery workers run (GATEWAY_EXTERNAL_TASKS) join the catalogue: a name both
    // declare is refused at start-up by the Catalogue.
    const catalogue = (options.catalogue ?? defaultCatalogue).with((config.externalTasks ?? []).map((t) => externalTask(t.name, t.queue)));
    const pool = createPool({ url: config.databaseUrl, schema: options.schema, logger, applicationName: 'celerity-gateway', max: 10 });
    let broker: Broker | undefined;
    let finished: FinishedListener | undefined;
    try {
      const store = new TaskStore(pool, { logger });
      const waiters = new TaskWaiters({
        store,
        logger,
        ...(options.waitPollMs ? { minPollMs: options.waitPollMs.min, maxPollMs: options.waitPollMs.max } : {}),
      });
      finished = await FinishedListener.create({
        databaseUrl: config.databaseUrl,
        schema: options.schema ?? DEFAULT_SCHEMA,
        logger,
        onFinished: (id) => waiters.nudge(id),
      });
      broker = await Broker.create({
        urls: config.amqpUrls,
        heartbeatS: config.heartbeatS,
        logger,
        connectionName: 'celerity-gateway',
        ...(config.amqpTls ? { tls: config.amqpTls } : {}),
      });
      const keys = config.authMode === 'keys' ? new ApiKeyStore(pool) : undefined;
      if (keys && (await keys.countActive()) === 0) {
        logger.warn('AUTH_MODE=keys but no API key exists yet: every request will get 401. Create one with: npm run keys -- create --name ops --scopes admin');
      }
      const queues = new TaskQueues(1000, (channel, queue) => declareTaskQueue(channel, queue, config.queueTypes));
      const delayQueues = new TaskQueues(64, declareDelayQueue);
      // Topology first on every (re)connect: the catalogue's queues exist before anything is
      // published, so a task submitted before any worker started is kept, not dropped.
      const connectedBroker = broker;
      // In a cluster, a classic queue whose node is down answers 404: the gateway still
      // connects (submits to that queue get 503 until the node is back), instead of failing
      // over from node to node for as long as that one node is down.
      const unavailable = (queue: string, err: unknown): void => {
        logger.warn('queue unavailable (its node may be down); submits to it get 503 until it is back', { queue, err });
      };
      await broker.onConnect(async (connection) => {
        for (const queue of catalogue.defaultQueues()) {
          await queues.ensure(connection, queue).catch((err: unknown) => {
            if (!isQueueUnavailable(err)) throw err;
            unavailable(queue, err);
          });
        }
        await queues.redeclareAll(connection, unavailable);
        await delayQueues.redeclareAll(connection, unavailable);
      });
      const publisher = await Publisher.create(broker, { logger });
      const replyRecorder = new ReplyRecorder({ store, logger });
      const replies = await ReplyListener.create(broker, {
        logger,
        onOutcome: (outcome) => replyRecorder.onReply(outcome, (final) => waiters.resolveReply(final)),
      });
      const metrics = new GatewayMetrics(createRegistry('gateway', options.processMetrics ?? true));
      const monitor = await WorkerMonitor.create(connectedBroker, { logger, metrics });
      const queueStats = await QueueStats.create(connectedBroker, {
        queues: () => [...catalogue.defaultQueues(), ...queues.list()],
        logger,
        metrics,
        counters: (queue) => monitor.counts(queue),
        ...(options.queueStatsIntervalMs ? { intervalMs: options.queueStatsIntervalMs } : {}),
      });
      const submitter = new Submitter({
        broker: connectedBroker,
        publisher,
        queues,
        delayQueues,
        store,
        catalogue,
        metrics,
        logger,
        replyTo: () => replies.replyTo,
        limits: new QueueLimits(config.queueMaxLength ?? { default: 0, perQueue: {} }, queueStats),
        ...(config.maxArgsBytes !== undefined ? { maxArgsBytes: config.maxArgsBytes } : {}),
        replyRecorder,
      });
      // The app asks the gateway for its state, and the gateway is built from the app.
      const self: { gateway?: Gateway } = {};
      const app = createApp({
        submitter,
        store,
        waiters,
        metrics,
        logger,
        broker: connectedBroker,
        idempotency: new IdempotencyKeys(pool, (config.idempotencyWindowHours ?? DEFAULTS.idempotencyWindowHours) * 3_600_000),
        maxBodyBytes: config.maxBodyBytes,
        maxWaitS: config.maxWaitS,
        security: {
          authMode: config.authMode ?? 'none',
          ...(keys ? { keys } : {}),
          corsOrigins: config.corsOrigins ?? [],
          rateLimitPerMinute: config.rateLimitPerMinute ?? DEFAULTS.rateLimitPerMinute,
          ...(config.metricsToken !== undefined ? { metricsToken: config.metricsToken } : {}),
          maxBodyBytes: config.maxBodyBytes,
        },
        maxBatch: config.maxBatch ?? DEFAULTS.maxBatch,
        ...(config.queueTypes ? { queueTypes: config.queueTypes } : {}),
        isDraining: () => self.gateway?.state !== 'RUNNING',
        readiness: { broker: () => connectedBroker.connected, database: () => store.ping() },
        dashboard: { queueStats, monitor },
      });
      self.gateway = new Gateway(
        { broker, publisher, replies, finished, queueStats, monitor, pool, store, waiters, logger, drainMs: options.drainMs ?? 10_000, maxWaitS: config.maxWaitS },
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

  /** Workers as seen on the event exchange. */
  get workerMonitor(): WorkerMonitor {
    return this.parts.monitor;
  }

  /** Starts the HTTP server; resolves with the address it listens on. */
  async listen(port: number, host: string): Promise<AddressInfo> {
    const server = this.app.listen(port, host);
    this.#server = server;
    // The longest ?wait= plus a margin: long waits are not cut, slow clients still are.
    server.requestTimeout = (this.parts.maxWaitS + 30) * 1000;
    server.headersTimeout = 60_000;
    server.keepAliveTimeout = 65_000;
    await once(server, 'listening');
    return server.address() as AddressInfo;
  }

  /**
   * Drains, then closes: new submits get 503 at once, waiting requests get up to `drainMs`
   * to receive their results (then a 202), and every resource is released even when one
   * step fails. Safe to call twice: the second caller gets the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const { broker, publisher, replies, finished, queueStats, monitor, pool, store, waiters, logger, drainMs } = this.parts;
    this.#state = 'DRAINING';
    const server = this.#server;
    const serverClosed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    server?.closeIdleConnections();
    const deadline = Date.now() + drainMs;
    while (waiters.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    waiters.cancelAll();
    const failures: unknown[] = [];
    const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        failures.push(err);
        logger.error(`gateway shutdown: ${name} failed`, { err });
      }
    };
    await step('closing the HTTP server', async () => {
      // Requests already answered may hold keep-alive sockets; nothing is in flight now.
      server?.closeAllConnections();
      await serverClosed;
    });
    await step('flushing the result store', () => store.idle());
    await step('closing the reply queue', () => replies.close());
    await step('closing the task notifications', () => finished.close());
    await step('stopping the queue stats', () => queueStats.close());
    await step('closing the event monitor', () => monitor.close());
    await step('closing the publisher', () => publisher.close());
    await step('closing the broker connection', () => broker.close());
    await step('closing the database pool', () => pool.end());
    this.#state = 'STOPPED';
    if (failures.length > 0) logger.warn('gateway stopped with errors', { failures: failures.length });
    else logger.info('gateway stopped');
  }
}
