/**
 * The worker's side of task events (docs/events.md): opens a TaskReporter for each run (what
 * `ctx.progress`, `ctx.stream` and `ctx.logger` feed), and, as task hooks, publishes a hint on
 * the task-events exchange whenever a task's state moved on in the store without finishing
 * (started, retried), so gateways streaming that task read it at once; a final state reaches
 * them as PostgreSQL's notification of the final write.
 *
 * Advisory like the Celery events (events.ts): a plain channel, nothing awaited; while the
 * connection is down or the channel pushes back, messages are dropped and counted. The store
 * holds every entry, so a stream recovers what a dropped message carried at the task's next
 * message or its final state.
 */
import { Writable } from 'node:stream';
import type { Channel } from 'amqplib';
import { Counter, type Registry } from 'prom-client';
import winston from 'winston';
import {
  CONTENT_ENCODING,
  CONTENT_TYPE,
  ManagedChannel,
  TASK_EVENTS_EXCHANGE,
  applyTopology,
  taskEventsTopology,
  type Broker,
} from '../../../shared/src/broker/index.js';
import type { Logger, TaskFeedMessage } from '../../../shared/src/core/index.js';
import type { TaskLog } from '../../../shared/src/store/index.js';
import type { TaskHooks, TaskInfo } from '../task-hooks.js';
import { TaskReporter } from './task-reporter.js';

export interface TaskReportsOptions {
  store: Pick<TaskLog, 'append' | 'setProgress' | 'tail'>;
  logger: Logger;
  registry: Registry;
}

/** What a run's `ctx` gets: the reporter's two calls and a logger that also feeds the task's log. */
export interface RunReports {
  progress: (fraction: number, message?: string) => void;
  stream: (chunk: string) => void;
  /** The task's `ctx.logger`: each line goes to `log` (the worker's log) and to the task's log. */
  logger: Logger;
  /** Waits until every report of the run is stored and published; call once the task ended. */
  close: () => Promise<void>;
}

export class TaskReports implements TaskHooks {
  readonly #options: TaskReportsOptions;
  readonly #count: Counter<'kind' | 'outcome'>;
  #managed: ManagedChannel | undefined;
  #backpressure = false;

  private constructor(options: TaskReportsOptions) {
    this.#options = options;
    this.#count = new Counter({
      name: 'celerity_worker_task_reports_total',
      help: 'Task reports (ctx.progress, ctx.stream, ctx.logger lines) by kind and outcome: stored (and published), dropped (event log full, store or broker failure), refused (bad input)',
      labelNames: ['kind', 'outcome'],
      registers: [options.registry],
    });
    // Series at 0 from start-up, as every counter's (bounded: 4 kinds × 4 outcomes).
    for (const kind of ['progress', 'output', 'log', 'state']) for (const outcome of ['stored', 'dropped', 'refused', 'unpublished']) this.#count.inc({ kind, outcome }, 0);
  }

  static async create(broker: Broker, options: TaskReportsOptions): Promise<TaskReports> {
    const reports = new TaskReports(options);
    reports.#managed = await ManagedChannel.open(broker, { name: 'task events channel', logger: options.logger, setup: (channel) => reports.#setup(channel) });
    return reports;
  }

  async #setup(channel: Channel): Promise<void> {
    channel.on('drain', () => {
      this.#backpressure = false;
    });
    await applyTopology(channel, taskEventsTopology());
    this.#backpressure = false;
  }

  /** The reports of one run of task `taskId`; `log` is the worker's logger for it. */
  open(taskId: string, log: Logger): RunReports {
    const reporter = new TaskReporter(taskId, {
      store: this.#options.store,
      publish: (message) => this.#publish(message),
      log,
      count: (kind, outcome) => this.#count.inc({ kind, outcome }),
    });
    let logger: Logger | undefined;
    return {
      progress: (fraction, message) => reporter.progress(fraction, message),
      stream: (chunk) => reporter.stream(chunk),
      // Made on first use: most tasks never log, and a winston logger per run is not free.
      get logger(): Logger {
        logger ??= teeLogger(log, (level, message) => reporter.line(level, message));
        return logger;
      },
      close: async () => {
        // winston hands a line to its stream a few ticks after the call: let the last ones arrive.
        if (logger) await new Promise((resolve) => setImmediate(resolve));
        await reporter.close();
      },
    };
  }

  received(): void {}

  started(task: TaskInfo): void {
    this.#publish({ taskId: task.id, state: 'STARTED', retries: task.retries });
  }

  // No hint for a final state: PostgreSQL's notification of the final write reaches every
  // gateway already (finished-listener.ts), so a hint would cost a publish per task for nothing.
  succeeded(): void {}

  failed(): void {}

  retried(task: TaskInfo): void {
    this.#publish({ taskId: task.id, state: 'RETRY', retries: task.retries });
  }

  /** Closes the channel. Safe to call twice. */
  async close(): Promise<void> {
    await this.#managed?.close();
  }

  #publish(message: TaskFeedMessage): void {
    const channel = this.#managed?.channel;
    const kind = 'event' in message ? message.event.kind : 'state';
    if (!channel || this.#backpressure) {
      this.#count.inc({ kind, outcome: 'unpublished' });
      return;
    }
    try {
      const accepted = channel.publish(TASK_EVENTS_EXCHANGE, `task.${kind}`, Buffer.from(JSON.stringify(message), 'utf8'), {
        contentType: CONTENT_TYPE,
        contentEncoding: CONTENT_ENCODING,
        deliveryMode: 1,
      });
      if (!accepted) this.#backpressure = true;
    } catch (err) {
      this.#count.inc({ kind, outcome: 'unpublished' });
      this.#options.logger.debug('could not publish a task event', { taskId: message.taskId, err });
    }
  }
}

/** A logger whose lines go to `log` and, when `log` writes their level, to `line` too. */
function teeLogger(log: Logger, line: (level: string, message: string) => void): Logger {
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      try {
        const { level, message, ...meta } = JSON.parse(chunk.toString()) as Record<string, unknown>;
        const lvl = typeof level === 'string' ? level : 'info';
        const text = typeof message === 'string' ? message : String(message);
        log.log(lvl, text, meta);
        if (log.isLevelEnabled(lvl)) line(lvl, text);
      } catch (err) {
        log.debug('could not pass on a task log line', { err });
      }
      done();
    },
  });
  return winston.createLogger({ level: 'silly', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
}
