/**
 * The types of `client.submit`: what follows the task (or its name) is computed from that task,
 * in ONE signature. Two overloads (a task, a name) made the compiler report a wrong field as
 * "Task<…> is not assignable to parameter of type 'string'" — the last overload's complaint —
 * under TypeScript 7; one signature lets it name the field.
 *
 *   submit(resize, { url, width }, options?)      one-object task: its input, sent as kwargs
 *   submit(add, [1, 2], { round: true }, options?) positional task: args, kwargs
 *   submit('img.resize', { url, width })          by name: typed when the client knows the app
 */
import type {
  Task,
  TaskArgs,
  TaskInput,
  TaskKwargs,
  TaskResult,
  TaskStyleOf,
} from '../app/index.js';
import type { SubmitOptions } from '../submit/index.js';

/** Submit options: those of the HTTP API, plus `idempotencyKey` (the `Idempotency-Key` header). */
export type ClientSubmitOptions = SubmitOptions & {
  /** The same key within its window (24 h) returns the same task instead of submitting a new one. */
  idempotencyKey?: string;
};

/**
 * The tasks of an app, as a type: every exported task, and the tasks of a default export that
 * is an array or an object of them (the rule `collectTasks` applies at run time), or the
 * elements of an array of tasks.
 */
type AppTasks<App> = App extends readonly unknown[]
  ? Extract<App[number], Task>
  : { [K in keyof App]: App[K] extends Task ? App[K] : K extends 'default' ? DefaultTasks<App[K]> : never }[keyof App];
type DefaultTasks<D> = D extends readonly unknown[] ? Extract<D[number], Task> : D extends object ? Extract<D[keyof D], Task> : never;

/** Whether the client was given no app type (`unknown`): then names are untyped, as Celery's `send_task`. */
type IsUntyped<App> = unknown extends App ? true : false;

/** The task names a client accepts: its app's, or any string when it knows no app. */
export type TaskNameOf<App> = IsUntyped<App> extends true ? string : AppTasks<App>['name'];

/** The task of `App` named `N`. */
type AppTask<App, N> = Extract<AppTasks<App>, { name: N }>;

/**
 * Any defined task, by a short name: the compiler prints it in a by-name call's error ("not
 * assignable to parameter of type '"img.resize" | AnyTask'") instead of Task's seven parameters.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- a name, not a new shape
export interface AnyTask extends Task {}

/** What follows a task in `submit`: its input and options, or its args, kwargs and options. */
type TaskCall<T, O> = [TaskStyleOf<T>] extends ['input']
  ? [input: TaskInput<T>, options?: O]
  : [args?: TaskArgs<T>, kwargs?: TaskKwargs<T>, options?: O];

/** An untyped call by name: one object (kwargs), or args, kwargs. */
type UntypedCall<O> =
  | [input: Record<string, unknown>, options?: O]
  | [args?: unknown[], kwargs?: Record<string, unknown>, options?: O];

/**
 * What follows `task` in `submit(task, ...)` on a client typed by `App`; `O` is the client's
 * options type (the HTTP client's adds `waitS` and `signal`).
 */
export type SubmitCall<App, T, O = ClientSubmitOptions> = T extends Task
  ? TaskCall<T, O>
  : IsUntyped<App> extends true
    ? UntypedCall<O>
    : TaskCall<AppTask<App, T>, O>;

/** What `result()` gives for `submit(task, ...)`. */
export type SubmitResult<App, T> = T extends Task ? TaskResult<T> : IsUntyped<App> extends true ? unknown : TaskResult<AppTask<App, T>>;
