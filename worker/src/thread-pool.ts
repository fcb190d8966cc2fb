/**
 * The thread pool for CPU-bound tasks (piscina), so the worker's event loop stays free. Each
 * thread imports the app module by URL and runs the task by name; the hard limit terminates
 * the thread, the soft limit reaches the task as `ctx.signal`, its log lines come back here.
 */
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Logger } from '../../shared/src/index.js';
import { fromCrossedError, toCrossedError, type CpuJob, type CpuOutcome, type LogMessage } from './cpu-job.js';

/** One CPU task to run: which module, which task, its arguments and context. */
export type CpuRequest = Omit<CpuJob, 'port'>;

export interface CpuSignals {
  /** Terminates the thread (hard time limit, forced shutdown). */
  hard: AbortSignal;
  /** Reaches the task as `ctx.signal` (soft time limit too). */
  task: AbortSignal;
  /** Where the task's `ctx.logger` lines are written. */
  logger: Logger;
}

export class ThreadPool {
  readonly #pool: Piscina;
  #closing: Promise<void> | undefined;

  /** @param threads most threads at once; extra jobs queue inside the pool (bounded by prefetch). */
  constructor(threads: number) {
    this.#pool = new Piscina({
      filename: new URL('./cpu-entry.js', import.meta.url).href,
      minThreads: 0,
      maxThreads: threads,
      idleTimeout: 30_000,
    });
  }

  /** Resolves with the task's result (parsed back from JSON) or rejects with its error (name and code kept). */
  async run(request: CpuRequest, signals: CpuSignals): Promise<unknown> {
    const { port1, port2 } = new MessageChannel();
    const onAbort = (): void => port1.postMessage({ type: 'abort', error: toCrossedError(signals.task.reason) });
    port1.on('message', (message: LogMessage) => {
      if (message.type !== 'log') return;
      const { level, message: text, ...meta } = message.entry;
      signals.logger.log(typeof level === 'string' ? level : 'info', typeof text === 'string' ? text : String(text), meta);
    });
    if (signals.task.aborted) onAbort();
    else signals.task.addEventListener('abort', onAbort, { once: true });
    try {
      const job: CpuJob = { ...request, port: port2 };
      const outcome = (await this.#pool.run(job, { signal: signals.hard, transferList: [port2] })) as CpuOutcome;
      if (!outcome.ok) throw fromCrossedError(outcome.error);
      return outcome.json === undefined ? undefined : (JSON.parse(outcome.json) as unknown);
    } finally {
      signals.task.removeEventListener('abort', onAbort);
      port1.close();
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#pool.close({ force: true });
    return this.#closing;
  }
}
