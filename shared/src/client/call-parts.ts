/** How `Client.submit` reads its arguments, and the schedules of an app module given to `createClient`. */
import { CelerityError } from '../core/index.js';
import { collectSchedules, type Schedule, type Task, type TaskDefinition, type TaskSource } from '../app/index.js';
import type { ClientSubmitOptions } from './submit-types.js';

/** A call's arguments, as the wire carries them. */
interface CallParts {
  args: unknown;
  kwargs: unknown;
  options: ClientSubmitOptions;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads what followed the task in `submit(task, ...rest)`: `(input, options)` for a one-object
 * task, `(args, kwargs, options)` for a positional one. A name the client does not know (no
 * definition) is told by its second argument: an object is one-object input, as in the typed form.
 */
export function callParts(definition: TaskDefinition | undefined, name: string, rest: readonly unknown[]): CallParts {
  const [first, second, third] = rest;
  const oneObject = definition ? definition.style === 'input' : isPlainObject(first);
  if (!oneObject) return { args: first, kwargs: second, options: third ?? {} };
  if (Array.isArray(first)) {
    throw new CelerityError('INVALID_ARGUMENTS', `Invalid arguments for ${name}: it takes one object of named fields, not an array of positional arguments`);
  }
  return { args: [], kwargs: first, options: second ?? {} };
}

/** The schedules of an app module given as `tasks` (none for an array of tasks). */
export function appSchedules(source: TaskSource | undefined, tasks: readonly TaskDefinition[]): Schedule[] {
  if (source === undefined || Symbol.iterator in source) return [];
  return collectSchedules(source, tasks as Task[], 'createClient({ tasks })');
}
