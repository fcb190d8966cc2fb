// Entry file of the worker's thread pool (piscina loads it in each thread; not run directly).
// Imports the app module named by the job (once per thread), runs the CPU task by name, and
// sends back its result as JSON text or its error as plain fields.
import { Writable } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import winston from 'winston';
// Straight to the one module needed, not shared's entry: every pool thread pays for what it imports.
// eslint-disable-next-line no-restricted-imports
import { collectTasks } from '../../shared/src/app/collect-tasks.js';
import type { Logger, TaskDefinition } from '../../shared/src/index.js';
import { UNSERIALISABLE_RESULT, fromCrossedError, toCrossedError, type AbortMessage, type CpuJob, type CpuOutcome } from './cpu-job.js';

const apps = new Map<string, Promise<ReadonlyMap<string, TaskDefinition>>>();

/** The app's tasks by name; imported once per thread and kept (the module stays cached anyway). */
function tasksOf(appUrl: string): Promise<ReadonlyMap<string, TaskDefinition>> {
  let tasks = apps.get(appUrl);
  if (!tasks) {
    tasks = import(appUrl).then((namespace: Record<string, unknown>) => new Map(collectTasks(namespace, appUrl).map((t) => [t.name, t])));
    apps.set(appUrl, tasks);
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

export default async function runCpuTask(job: CpuJob): Promise<CpuOutcome> {
  const controller = new AbortController();
  job.port.on('message', (message: AbortMessage) => {
    if (message.type === 'abort') controller.abort(fromCrossedError(message.error));
  });
  try {
    const task = (await tasksOf(job.appUrl)).get(job.name);
    if (!task?.run || !task.cpu) {
      return { ok: false, error: { name: 'UnknownTaskError', message: `The app module loaded in the thread pool has no CPU task named "${job.name}"` } };
    }
    let logger: Logger | undefined;
    const ctx = {
      ...job.ctx,
      signal: controller.signal,
      // Made on first use: most CPU tasks never log, and a winston logger per job is not free.
      get logger(): Logger {
        logger ??= portLogger(job.port);
        return logger;
      },
    };
    const value = await task.run(job.args, job.kwargs, ctx);
    try {
      return { ok: true, json: value === undefined ? undefined : JSON.stringify(value) };
    } catch (err) {
      return { ok: false, error: { name: UNSERIALISABLE_RESULT, message: `The task's result cannot be stored as JSON: ${(err as Error).message}` } };
    }
  } catch (err) {
    return { ok: false, error: toCrossedError(err) };
  } finally {
    job.port.close();
  }
}
