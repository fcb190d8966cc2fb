/**
 * Which values of an app are tasks — the one rule, for the app loader (main thread), the thread
 * pool (each worker thread loads the same module) and the Node client (`createClient({ tasks })`):
 * every exported `defineTask` value, as a named export or inside a default export that is an
 * array or a plain object of them; or, given an array, its tasks.
 */
import { CelerityError } from '../core/index.js';
import { isTask, type Task } from './define-task.js';

/** Where a task was found, for error messages: `add`, `default[2]`, `default.fib`. */
interface Found {
  task: Task;
  exportName: string;
}

/** A module namespace (`import * as app`), or an array (any iterable) of tasks. */
export type TaskSource = Iterable<unknown> | Readonly<Record<string, unknown>>;

function foundIn(source: TaskSource): Found[] {
  const found: Found[] = [];
  if (Symbol.iterator in source) {
    [...(source as Iterable<unknown>)].forEach((item, i) => {
      if (isTask(item)) found.push({ task: item, exportName: `[${i}]` });
    });
    return found;
  }
  for (const [exportName, value] of Object.entries(source)) {
    if (isTask(value)) {
      found.push({ task: value, exportName });
    } else if (exportName === 'default' && Array.isArray(value)) {
      value.forEach((item, i) => {
        if (isTask(item)) found.push({ task: item, exportName: `default[${i}]` });
      });
    } else if (exportName === 'default' && typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        if (isTask(item)) found.push({ task: item, exportName: `default.${key}` });
      }
    }
  }
  return found;
}

/**
 * The tasks of an app, each once (the same definition exported twice counts once). Throws
 * `INVALID_APP` naming `file` (where they came from) when there is none, when two definitions
 * share a name, or when a task has no `run` and is not `external`.
 */
export function collectTasks(source: TaskSource, file: string): Task[] {
  const byName = new Map<string, Found>();
  for (const entry of foundIn(source)) {
    const seen = byName.get(entry.task.name);
    if (seen?.task === entry.task) continue;
    if (seen) {
      throw new CelerityError(
        'INVALID_APP',
        `${file}: two tasks are named "${entry.task.name}" (exports ${seen.exportName} and ${entry.exportName}); task names must be unique`,
      );
    }
    if (!entry.task.external && typeof entry.task.run !== 'function') {
      throw new CelerityError(
        'INVALID_APP',
        `${file}: task "${entry.task.name}" (export ${entry.exportName}) has no run function; give it one, or mark it external: true if another worker implements it`,
      );
    }
    byName.set(entry.task.name, entry);
  }
  if (byName.size === 0) {
    throw new CelerityError(
      'INVALID_APP',
      `${file}: exports no tasks; export defineTask(...) values, or a default export that is an array or object of them`,
    );
  }
  return [...byName.values()].map((f) => f.task);
}
