/**
 * Loading a user's app module by path: resolve it, import it, collect its tasks. Every way
 * this can go wrong ends in one `INVALID_APP` error whose message names the file, so the CLI
 * can print it and exit non-zero.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CelerityError } from '../core/index.js';
import { collectSchedules } from './collect-schedules.js';
import { collectTasks } from './collect-tasks.js';
import type { Schedule } from './define-schedule.js';
import type { Task } from './define-task.js';

/** An app module, loaded. */
export interface LoadedApp {
  /** Absolute path of the module file. */
  file: string;
  /** Its `file:` URL: what worker threads import to find CPU tasks. */
  url: string;
  /** Its tasks, each once, ordered by export name (as a module namespace lists them). */
  tasks: Task[];
  /** Its schedules (`defineSchedule` exports), each checked against its tasks. */
  schedules: Schedule[];
}

/** Options of {@link loadApp}. */
export interface LoadAppOptions {
  /** Directory a relative path is resolved against. @default process.cwd() */
  cwd?: string;
}

/**
 * Imports the ES module at `modulePath` (relative paths resolve against `cwd`) and returns its
 * tasks. Rejects with a `CelerityError` of code `INVALID_APP`, naming the file, when the path
 * does not exist, the module throws on import (the cause is kept and shown), or its exports
 * hold no tasks, two tasks with one name, or a task without `run` that is not `external`.
 */
export async function loadApp(modulePath: string | URL, options: LoadAppOptions = {}): Promise<LoadedApp> {
  const file =
    modulePath instanceof URL || modulePath.startsWith('file:')
      ? // Not `.pathname`: it keeps escapes (`my%20app`), which name no file on disk.
        fileURLToPath(modulePath)
      : path.resolve(options.cwd ?? process.cwd(), modulePath);
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch {
    throw new CelerityError('INVALID_APP', `${file}: no such app module (check --app or CELERITY_APP)`);
  }
  if (!isFile) throw new CelerityError('INVALID_APP', `${file}: not a file; --app takes the path of an ES module (.js or .mjs)`);
  const url = pathToFileURL(file).href;
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    const cause = err instanceof Error ? (err.stack ?? err.message) : String(err);
    // Node runs JavaScript: a TypeScript app is compiled first and --app names the output.
    const hint = /\.[mc]?tsx?$/.test(file) ? " (compile TypeScript first, e.g. with tsc, and pass the .js it writes, or run Node with NODE_OPTIONS='--import tsx')" : '';
    throw new CelerityError('INVALID_APP', `${file}: the app module failed to load${hint}: ${cause}`, { cause: err });
  }
  const tasks = collectTasks(namespace, file);
  return { file, url, tasks, schedules: collectSchedules(namespace, tasks, file) };
}
