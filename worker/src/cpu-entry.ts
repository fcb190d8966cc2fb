// Entry file of the worker's thread pool (piscina loads it in each thread; not run directly).
// Imports the app module named by the job (once per thread), runs the CPU task by name, and
// sends back its result as JSON text or its error as plain fields.
import { Writable } from 'node:stream';
import { BroadcastChannel, isMainThread, type MessagePort } from 'node:worker_threads';
import { workerData } from 'piscina';
import winston from 'winston';
// Straight to the one module needed, not shared's entry: every pool thread pays for what it imports.
// eslint-disable-next-line no-restricted-imports
import { collectTasks } from '../../shared/src/app/collect-tasks.js';
// eslint-disable-next-line no-restricted-imports
import { backoff } from '../../shared/src/core/errors.js';
import type { Logger } from '../../shared/src/core/index.js';
import type { TaskDefinition } from '../../shared/src/app/index.js';
import {
  STRAY_CHANNEL,
  UNSERIALISABLE_RESULT,
  fromCrossedError,
  toCrossedError,
  type AbortMessage,
  type CpuJob,
  type CpuOutcome,
  type ReportMessage,
  type StartedMessage,
  type StrayReport,
} from './cpu-job.js';
import { TaskScope, chargeStrayError, strayFields } from './task-scope.js';

type Tasks = ReadonlyMap<string, TaskDefinition>;
const apps = new Map<string, Promise<Tasks>>();
let imports = 0;

interface TsxApi {
  tsImport(specifier: string, parentURL: string): Promise<Record<string, unknown>>;
}

/**
 * The app's tasks by name; imported once per thread and kept. A failed import is not kept:
 * the next job imports the module again, under a new URL, because Node keeps a module whose
 * evaluation threw as failed under its URL for the life of the thread.
 */
function tasksOf(appUrl: string, tsxApi: string | undefined): Promise<Tasks> {
  let tasks = apps.get(appUrl);
  if (!tasks) {
    const url = imports++ === 0 ? appUrl : `${appUrl}${appUrl.includes('?') ? '&' : '?'}celerity-import=${imports}`;
    const namespace = tsxApi
      ? import(tsxApi).then((api: TsxApi) => api.tsImport(url, appUrl))
      : (import(url) as Promise<Record<string, unknown>>);
    const loading = namespace.then((ns) => new Map(collectTasks(ns, appUrl).map((t) => [t.name, t])));
    loading.catch(() => {
      if (apps.get(appUrl) === loading) apps.delete(appUrl);
    });
    apps.set(appUrl, loading);
    tasks = loading;
  }
  return tasks;
}

/** A logger whose entries go to the main thread, which writes them through the worker's logger. */
function portLogger(port: MessagePort): Logger {
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      try {
        port.postMessage({ type: 'log', entry: JSON.parse(chunk.toString()) as Record<string, unknown> });
      } catch {
        // The port is closed: the task outlived its job (a timer after return); drop the line.
      }
      done();
    },
  });
  return winston.createLogger({ level: 'silly', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
}

/** Sends a report to the main thread, which checks it; a value that cannot cross is sent as its description. */
function report(port: MessagePort, message: ReportMessage): void {
  try {
    port.postMessage(message);
  } catch {
    try {
      port.postMessage(message.type === 'progress' ? { ...message, fraction: String(message.fraction), message: undefined } : { type: 'output', chunk: { uncloneable: true } });
    } catch {
      // The port is closed: the task outlived its job; drop the report.
    }
  }
}

/**
 * In a pool thread, a stray error (a rejection nobody handled, a throw from a timer) fails the
 * job whose code raised it (TaskScope), and only that job; one that comes after its job ended,
 * or from no job, is reported to the main thread and the thread keeps running. Without this,
 * Node ends the thread and piscina fails whichever job runs on it next with that error.
 */
function installStrayPolicy(): void {
  // The pool names its channel (thread-pool.ts); the default is for a thread started otherwise.
  const reports = new BroadcastChannel((workerData as { strayChannel?: string } | undefined)?.strayChannel ?? STRAY_CHANNEL);
  reports.unref();
  const onStray = (source: 'unhandledRejection' | 'uncaughtException') => (error: unknown) => {
    const charge = chargeStrayError(error);
    const { err: _err, ...fields } = strayFields(charge, error, source);
    const report: StrayReport =
      charge.kind === 'failed'
        ? { level: 'error', message: 'a CPU task left an error unhandled: the task fails with it; its thread keeps running', fields, error: toCrossedError(error) }
        : charge.kind === 'late'
          ? { level: 'warn', message: 'a CPU task left an error unhandled after it ended: its outcome stands; its thread keeps running', fields, error: toCrossedError(error) }
          : { level: 'error', message: 'a pool thread had an error outside any task: ignored; the thread keeps running', fields, error: toCrossedError(error) };
    reports.postMessage(report);
  };
  process.on('unhandledRejection', onStray('unhandledRejection'));
  process.on('uncaughtException', onStray('uncaughtException'));
}

if (!isMainThread) installStrayPolicy();

/** The start-up check: the app loads in a thread and has each of `names` as a CPU task. */
async function check(job: CpuJob, names: string[], startedAtMs: number): Promise<CpuOutcome> {
  const tasks = await tasksOf(job.appUrl, job.tsxApi);
  const missing = names.filter((name) => !tasks.get(name)?.cpu);
  return { ok: true, json: JSON.stringify(missing), startedAtMs };
}

export default async function runCpuTask(job: CpuJob): Promise<CpuOutcome> {
  const startedAtMs = Date.now();
  job.port.postMessage({ type: 'started', atMs: startedAtMs } satisfies StartedMessage);
  const controller = new AbortController();
  job.port.on('message', (message: AbortMessage) => {
    if (message.type === 'abort') controller.abort(fromCrossedError(message.error));
  });
  const scope = new TaskScope(job.ctx.id, job.name, job.ctx.queue);
  let logger: Logger | undefined;
  try {
    if (job.check) return await check(job, job.check, startedAtMs);
    const task = (await tasksOf(job.appUrl, job.tsxApi)).get(job.name);
    if (!task?.run || !task.cpu) {
      return { ok: false, error: { name: 'UnknownTaskError', message: `The app module loaded in the thread pool has no CPU task named "${job.name}"` }, startedAtMs };
    }
    const run = task.run;
    const ctx = {
      ...job.ctx,
      signal: controller.signal,
      // Made on first use: most CPU tasks never log, and a winston logger per job is not free.
      get logger(): Logger {
        logger ??= portLogger(job.port);
        return logger;
      },
      progress: (fraction: number, message?: string) => report(job.port, { type: 'progress', fraction, message }),
      stream: (chunk: string) => report(job.port, { type: 'output', chunk }),
      backoff,
    };
    // One job at a time per thread (the pool's concurrentTasksPerWorker is 1): the scope is this job's.
    const value: unknown = await Promise.race([scope.run(() => run(job.args, job.kwargs, ctx)), scope.stray]);
    try {
      return { ok: true, json: value === undefined ? undefined : JSON.stringify(value), startedAtMs };
    } catch (err) {
      return { ok: false, error: { name: UNSERIALISABLE_RESULT, message: `The task's result cannot be stored as JSON: ${(err as Error).message}` }, startedAtMs };
    }
  } catch (err) {
    return { ok: false, error: toCrossedError(err), startedAtMs };
  } finally {
    scope.close();
    // winston hands a line to its stream a few ticks after the call: let the task's last lines
    // reach the port before it closes.
    if (logger) await new Promise((resolve) => setImmediate(resolve));
    job.port.close();
  }
}
