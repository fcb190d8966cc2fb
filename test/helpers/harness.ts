/**
 * Integration-test harness: each test gets its own PostgreSQL schema, its own queue names
 * (random suffix), and its own gateways and workers; `cleanup()` closes them, deletes the
 * queues and drops the schema, and fails the test if anything was left open.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import type pg from 'pg';
import winston from 'winston';
import Transport from 'winston-transport';
import { Gateway, type GatewayOptions } from '../../gateway/src/gateway.js';
import { Worker } from '../../worker/src/worker.js';
import { createPool } from '../../shared/src/store/pool.js';
import { createSilentLogger, type Logger } from '../../shared/src/core/logger.js';
import { deadLetterQueueName, listDeadLetters, type DeadLetter } from '../../shared/src/broker/dead-letters.js';
import { declareTaskQueue } from '../../shared/src/broker/apply-topology.js';
import { isFinalState, type TaskRecord, type TaskRepresentation } from '../../shared/src/core/task.js';
import { type QueueMaxLength } from '../../shared/src/config/parse.js';
import { type QueueTypes } from '../../shared/src/core/names.js';
import { migrate } from '../../shared/src/store/migrate.js';
import { TaskStore } from '../../shared/src/store/store.js';
import { type TaskDefinition } from '../../shared/src/app/define-task.js';
import { CELERITY_CLI, DEMO_APP, demoApp } from './demo.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL } from './env.js';
import { waitFor } from './wait.js';

export { TEST_AMQP_URL, TEST_DATABASE_URL, waitFor };

/** A winston transport that keeps every log entry, for assertions on what was logged. */
export class CaptureTransport extends Transport {
  readonly entries: Record<string, unknown>[] = [];
  override log(info: Record<string, unknown>, next: () => void): void {
    this.entries.push(info);
    next();
  }
}

export function captureLogger(service = 'test'): { logger: Logger; capture: CaptureTransport } {
  const capture = new CaptureTransport();
  const logger = winston.createLogger({ level: 'debug', defaultMeta: { service }, transports: [capture] });
  return { logger, capture };
}

export interface GatewayHandle {
  gateway: Gateway;
  url: string;
}

export interface StartWorkerOptions {
  queues: string[];
  concurrency?: number;
  graceMs?: number;
  cpuThreads?: number;
  metrics?: boolean;
  logger?: Logger;
  /** The tasks the worker runs; the demo app's when absent. */
  tasks?: readonly TaskDefinition[];
  /** `file:` URL of the module `tasks` come from (thread-pool threads import it); the demo app's when absent. */
  appUrl?: string;
  deliveryLimit?: number;
  timeLimitS?: number;
  maxResultBytes?: number;
  /** Publish task events. @default true (the worker's own default is false) */
  taskEvents?: boolean;
  /** QUEUE_TYPES. @default every queue classic */
  queueTypes?: QueueTypes;
  name?: string; // the worker's name, its remote-control mailbox (default celerity@<host>:<pid>: the same for each worker of a process)
}

/** A worker in a process of its own (`celerity worker --app <demo app>`), for crash tests. */
export interface WorkerProcess {
  child: ChildProcess;
  /** Everything it printed so far. */
  output: () => string;
  /** Resolves with the exit code (or signal) once it has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class TestContext {
  readonly suffix = randomBytes(5).toString('hex');
  readonly schema = `t_${this.suffix}`;
  readonly pool: pg.Pool;
  readonly store: TaskStore;
  readonly logger: Logger;
  readonly #queues = new Set<string>();
  readonly #gateways: Gateway[] = [];
  readonly #workers: Worker[] = [];
  readonly #processes: ChildProcess[] = [];
  readonly #deferred: (() => Promise<void>)[] = [];

  private constructor(logger: Logger) {
    this.logger = logger;
    this.pool = createPool({ url: TEST_DATABASE_URL, schema: this.schema, logger, applicationName: 'celerity-test', max: 4 });
    this.store = new TaskStore(this.pool, { logger });
  }

  static async create(logger: Logger = createSilentLogger()): Promise<TestContext> {
    const ctx = new TestContext(logger);
    await migrate(ctx.pool, ctx.schema, logger);
    return ctx;
  }

  /** A queue name unique to this test (deleted by cleanup). */
  queue(name: string): string {
    const queue = `test.${name}.${this.suffix}`;
    this.#queues.add(queue);
    return queue;
  }

  /** Runs `fn` at cleanup, before gateways and workers stop (last deferred first). */
  defer(fn: () => Promise<void>): void {
    this.#deferred.push(fn);
  }

  async startGateway(
    options: {
      logger?: Logger;
      maxBodyBytes?: number;
      drainMs?: number;
      queueStatsIntervalMs?: number;
      config?: Partial<GatewayOptions['config']>;
      queueMaxLength?: QueueMaxLength;
      externalTasks?: { name: string; queue: string }[];
      tasks?: readonly TaskDefinition[];
      waitPollMs?: GatewayOptions['waitPollMs'];
      schedules?: GatewayOptions['schedules'];
    } = {},
  ): Promise<GatewayHandle> {
    const gateway = await Gateway.create({
      tasks: options.tasks ?? (await demoApp()).tasks,
      config: {
        amqpUrls: [TEST_AMQP_URL],
        databaseUrl: TEST_DATABASE_URL,
        heartbeatS: 10,
        maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
        maxWaitS: 60,
        ...(options.queueMaxLength ? { queueMaxLength: options.queueMaxLength } : {}),
        externalTasks: options.externalTasks ?? [],
        allowedQueues: ['test.*'], // this.queue()'s names, which tests put in options.queue
        ...options.config,
      },
      logger: options.logger ?? this.logger,
      schema: this.schema,
      drainMs: options.drainMs ?? 2_000,
      processMetrics: false,
      ...(options.queueStatsIntervalMs ? { queueStatsIntervalMs: options.queueStatsIntervalMs } : {}),
      ...(options.waitPollMs ? { waitPollMs: options.waitPollMs } : {}),
      ...(options.schedules ? { schedules: options.schedules } : {}),
    });
    this.#gateways.push(gateway);
    const address = await gateway.listen(0, '127.0.0.1');
    return { gateway, url: `http://127.0.0.1:${address.port}` };
  }

  async startWorker(options: StartWorkerOptions): Promise<Worker> {
    const demo = await demoApp();
    const worker = await Worker.create({
      tasks: options.tasks ?? demo.tasks,
      appUrl: options.appUrl ?? demo.url,
      config: {
        amqpUrls: [TEST_AMQP_URL],
        databaseUrl: TEST_DATABASE_URL,
        heartbeatS: 10,
        queues: options.queues,
        concurrency: options.concurrency ?? 8,
        graceMs: options.graceMs ?? 5_000,
        cpuThreads: options.cpuThreads ?? 2,
        resultRetentionHours: 24,
        ...(options.deliveryLimit !== undefined ? { deliveryLimit: options.deliveryLimit } : {}),
        // Tests watch task events (the dashboard's rates, the events suite); the default is off.
        taskEvents: options.taskEvents ?? true,
        ...(options.timeLimitS !== undefined ? { timeLimitS: options.timeLimitS } : {}),
        ...(options.maxResultBytes !== undefined ? { maxResultBytes: options.maxResultBytes } : {}),
        ...(options.queueTypes ? { queueTypes: options.queueTypes } : {}),
      },
      logger: options.logger ?? this.logger,
      schema: this.schema,
      processMetrics: false,
      ...(options.metrics ? { metrics: { port: 0 } } : {}),
      ...(options.name ? { name: options.name } : {}),
    });
    this.#workers.push(worker);
    return worker;
  }

  /**
   * Starts a worker process on this test's schema (killed, if still running, by cleanup).
   * Resolves once it is consuming. `app`: the app module's path. @default the demo app
   */
  async spawnWorker(queues: string[], env: Record<string, string> = {}, app: string = DEMO_APP): Promise<WorkerProcess> {
    const child = spawn(process.execPath, [CELERITY_CLI, 'worker', '--app', app, '--queues', queues.join(','), '--metrics-port', '0'], {
      env: {
        ...process.env,
        AMQP_URL: TEST_AMQP_URL,
        DATABASE_URL: TEST_DATABASE_URL,
        DATABASE_SCHEMA: this.schema,
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#processes.push(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    await waitFor('the worker process to consume', () => {
      if (child.exitCode !== null) throw new Error(`worker process exited early:\n${output}`);
      return output.includes('"consuming"');
    }, { timeoutMs: 30_000 });
    return { child, output: () => output, exited };
  }

  /**
   * The task's row once it is final. A worker replies before it commits, so right after a
   * `?wait=` answer the row may still be STARTED for a moment.
   */
  async finalRow(id: string): Promise<TaskRecord> {
    return waitFor(`task ${id} to be final in the store`, async () => {
      const task = await this.store.get(id);
      return task && isFinalState(task.state) ? task : undefined;
    });
  }

  /** The dead letters of a queue, as the CLI and the HTTP API list them. */
  async deadLetters(queue: string): Promise<DeadLetter[]> {
    const connection = await amqp.connect(TEST_AMQP_URL);
    try {
      return await listDeadLetters(connection, queue, 1000);
    } finally {
      await connection.close();
    }
  }

  /** Messages ready in a queue, read from the broker (passive declare); a missing queue is empty. */
  async queueDepth(queue: string): Promise<{ exists: boolean; messages: number; consumers: number }> {
    const connection = await amqp.connect(TEST_AMQP_URL);
    try {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      try {
        const { messageCount, consumerCount } = await channel.checkQueue(queue);
        return { exists: true, messages: messageCount, consumers: consumerCount };
      } catch (err) {
        if ((err as { code?: unknown }).code === 404) return { exists: false, messages: 0, consumers: 0 };
        throw err;
      }
    } finally {
      await connection.close();
    }
  }

  /** Publishes raw bytes straight onto a queue, as a foreign producer would. */
  publishRaw = (queue: string, content: Buffer, options: amqp.Options.Publish): Promise<void> => this.publishMany(queue, [{ content, options }]);
  /** Publishes `messages` onto `queue` in order, on one confirmed channel, as a foreign producer would. */
  async publishMany(queue: string, messages: readonly { content: Buffer; options: amqp.Options.Publish }[]): Promise<void> {
    const connection = await amqp.connect(TEST_AMQP_URL);
    await (async () => {
      const channel = await connection.createConfirmChannel();
      await declareTaskQueue(channel, queue);
      for (const { content, options } of messages) channel.publish('', queue, content, options);
      await channel.waitForConfirms();
    })().finally(() => connection.close());
  }

  /** Deletes a queue on the broker behind the backs of our gateways and workers. */
  async deleteQueueOnBroker(queue: string): Promise<void> {
    const connection = await amqp.connect(TEST_AMQP_URL);
    try {
      const channel = await connection.createChannel();
      await channel.deleteQueue(queue);
    } finally {
      await connection.close();
    }
  }

  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    for (const fn of this.#deferred.reverse()) await fn().catch((err: unknown) => errors.push(err));
    for (const gateway of this.#gateways) await gateway.close().catch((err: unknown) => errors.push(err));
    for (const worker of this.#workers) await worker.stop(1_000).catch((err: unknown) => errors.push(err));
    for (const child of this.#processes) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    }
    const connection = await amqp.connect(TEST_AMQP_URL);
    try {
      for (const queue of this.#queues) {
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        await channel.deleteQueue(queue).catch(() => undefined);
        await channel.deleteQueue(deadLetterQueueName(queue)).catch(() => undefined);
        await channel.deleteExchange(queue).catch(() => undefined);
        await channel.close().catch(() => undefined);
      }
    } finally {
      await connection.close();
    }
    await this.pool.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`).catch((err: unknown) => errors.push(err));
    await this.pool.end();
    // Leak check: every gateway and worker this test started must have shut down cleanly.
    for (const gateway of this.#gateways) assert.equal(gateway.state, 'STOPPED', 'a gateway was left running');
    for (const worker of this.#workers) {
      assert.equal(worker.state, 'STOPPED', 'a worker was left running');
      assert.equal(worker.inFlight, 0, 'a worker still had tasks in flight');
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  }
}

export interface HttpResult<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export async function http<T = Record<string, unknown>>(
  url: string,
  init: { method?: string; json?: unknown; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | Buffer | undefined = init.body;
  if (init.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(init.json);
  }
  const res = await fetch(url, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch { /* not JSON (e.g. /metrics) */ }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

export type Task = TaskRepresentation;

/** Polls GET /api/v1/tasks/:id until the task is in `state`. */
export async function waitForState(baseUrl: string, id: string, states: string[]): Promise<Task> {
  return waitFor(`task ${id} to reach ${states.join('|')}`, async () => {
    const { status, body } = await http<Task>(`${baseUrl}/api/v1/tasks/${id}`);
    return status === 200 && states.includes(body.state) ? body : undefined;
  });
}
