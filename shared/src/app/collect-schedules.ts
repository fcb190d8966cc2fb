/**
 * Which values of an app are schedules (exported `defineSchedule` values, named or inside a
 * default export that is an array or object, as for tasks), checked against the app's tasks:
 * a schedule naming an unknown task, or whose arguments the task's schemas refuse, is refused
 * when the app loads, naming the schedule.
 */
import { CelerityError } from '../core/index.js';
import { checkArguments, formatIssues } from './catalogue.js';
import { isSchedule, type Schedule } from './define-schedule.js';
import type { Task } from './define-task.js';

function found(namespace: Readonly<Record<string, unknown>>): Schedule[] {
  const out: Schedule[] = [];
  for (const [exportName, value] of Object.entries(namespace)) {
    if (isSchedule(value)) out.push(value);
    else if (exportName === 'default' && typeof value === 'object' && value !== null) {
      for (const item of Array.isArray(value) ? value : Object.values(value)) if (isSchedule(item)) out.push(item);
    }
  }
  return out;
}

/** The app's schedules, each once, checked against `tasks`; throws `INVALID_APP` naming `file` and the schedule. */
export function collectSchedules(namespace: Readonly<Record<string, unknown>>, tasks: readonly Task[], file: string): Schedule[] {
  const byName = new Map<string, Schedule>();
  for (const schedule of found(namespace)) {
    const seen = byName.get(schedule.name);
    if (seen === schedule) continue;
    if (seen) throw new CelerityError('INVALID_APP', `${file}: two schedules are named "${schedule.name}"; schedule names must be unique`);
    const task = tasks.find((t) => t.name === schedule.task);
    if (!task) {
      throw new CelerityError('INVALID_APP', `${file}: schedule "${schedule.name}" names task "${schedule.task}", which the app does not define (its tasks: ${tasks.map((t) => t.name).join(', ')})`);
    }
    const check = checkArguments(task, schedule.args, schedule.kwargs);
    if (!check.ok) throw new CelerityError('INVALID_APP', `${file}: schedule "${schedule.name}": invalid arguments for ${task.name}: ${formatIssues(check.issues)}`);
    byName.set(schedule.name, schedule);
  }
  return [...byName.values()];
}
