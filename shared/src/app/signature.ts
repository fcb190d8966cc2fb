/**
 * Task signatures, as Celery's `task.s(...)`: a task and some of its arguments, not sent yet.
 * `chain`, `group` and `chord` (the client's canvas.ts) are built from them; a chain's later
 * steps and a chord's body get the previous result prepended to their args when they run, so
 * their args may leave out the first one.
 */

/**
 * Options of one step, as a submit takes them (`options` of `POST /api/v1/tasks/{name}`);
 * validated when the workflow starts. `countdown`, `eta` and `maxRetries` apply only to the
 * tasks a workflow starts with.
 */
export interface StepOptions {
  queue?: string;
  /** Seconds before the task may run. */
  countdown?: number;
  /** When the task may run: ISO 8601 with a time zone. */
  eta?: string;
  /** Seconds from now, or an ISO 8601 date, after which the task must not run. */
  expires?: number | string;
  /** AMQP priority, 0..255. */
  priority?: number;
  maxRetries?: number;
  /** Hard time limit, seconds. */
  timeLimit?: number;
  /** Soft time limit, seconds. */
  softTimeLimit?: number;
}

/** One step of a workflow: what `task.s(...)` makes, and the shape of an HTTP step. */
export interface TaskSignature<R = unknown> {
  readonly name: string;
  readonly args?: unknown[];
  readonly kwargs?: Record<string, unknown>;
  readonly options?: StepOptions;
  /** The result type of the task (types only). */
  readonly '~result'?: R;
}

/** A tuple without its first element: the args of a step that gets the previous result first. */
type ArgsTail<T> = T extends readonly [unknown, ...infer Rest] ? Rest : T;

/** What `s(...)` takes: `(input, options?)` for a one-object task, else `(args?, kwargs?, options?)`. */
export type SignatureCall<AIn, KIn, S> = [S] extends ['input']
  ? [input?: Partial<KIn>, options?: StepOptions]
  : [args?: AIn | ArgsTail<AIn>, kwargs?: KIn, options?: StepOptions];

/** Builds the signature of task `name` (one-object style or positional). */
export function signatureOf(name: string, oneObject: boolean, call: readonly unknown[]): TaskSignature {
  const [first, second, third] = call;
  const parts = oneObject ? { kwargs: first, options: second } : { args: first, kwargs: second, options: third };
  return Object.freeze({
    name,
    ...(parts.args !== undefined ? { args: parts.args as unknown[] } : {}),
    ...(parts.kwargs !== undefined ? { kwargs: parts.kwargs as Record<string, unknown> } : {}),
    ...(parts.options !== undefined ? { options: parts.options as StepOptions } : {}),
  });
}
