/**
 * Which task a piece of code runs for, carried across its awaits, timers and callbacks
 * (AsyncLocalStorage), so an error nobody awaited — a promise rejected and left behind, a
 * throw in a timer — is charged to the task that caused it, not to its worker or to the other
 * tasks running there. Node 20 runs `unhandledRejection` and `uncaughtException` handlers in
 * the async context of the code that failed, so the scope is visible there
 * (test/unit/task-scope.test.ts shows it). Used on the main thread for in-process tasks and
 * in each pool thread for CPU tasks.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
// Straight to the one module needed, not shared's entry: pool threads import this file too.
// eslint-disable-next-line no-restricted-imports
import { coerceError } from '../../shared/src/core/errors.js';

const storage = new AsyncLocalStorage<TaskScope>();

/** One run of one task: where its stray errors go while it runs. */
export class TaskScope {
  /** Rejects with the first stray error charged to the task while it runs; never resolves. */
  readonly stray: Promise<never>;
  #fail: (error: unknown) => void = () => undefined;
  #open = true;

  constructor(
    readonly taskId: string,
    readonly task: string,
    readonly queue: string,
  ) {
    this.stray = new Promise<never>((_resolve, reject) => (this.#fail = reject));
    // Raced against the task's own promise; once the task ended nobody listens, and a stray
    // error arriving then must not become an unhandled rejection of its own.
    this.stray.catch(() => undefined);
  }

  /** Runs `fn` (the task's code) inside this scope. */
  run<T>(fn: () => T): T {
    return storage.run(this, fn);
  }

  /** Whether the task is still running: a stray error fails it only then. */
  get open(): boolean {
    return this.#open;
  }

  /** Fails the running task with `error`; false (and nothing happens) once it has ended. */
  fail(error: unknown): boolean {
    if (!this.#open) return false;
    this.#open = false;
    this.#fail(error);
    return true;
  }

  /** The task ended: later stray errors are only logged. */
  close(): void {
    this.#open = false;
  }
}

/** The task the current code runs for, if any (also after that task ended). */
export function currentTaskScope(): TaskScope | undefined {
  return storage.getStore();
}

/** Where a stray error went: it failed a running task, came after its task ended, or has no task. */
export type StrayCharge = { kind: 'failed'; scope: TaskScope } | { kind: 'late'; scope: TaskScope } | { kind: 'unattributed' };

/** Charges `error` to the task whose code raised it (the current scope): fails it if it still runs. */
export function chargeStrayError(error: unknown): StrayCharge {
  const scope = currentTaskScope();
  if (!scope) return { kind: 'unattributed' };
  return scope.fail(coerceError(error)) ? { kind: 'failed', scope } : { kind: 'late', scope };
}

/** Log fields for a stray error (the same dimensions as the task's own lines). */
export function strayFields(charge: StrayCharge, error: unknown, source: 'unhandledRejection' | 'uncaughtException'): Record<string, unknown> {
  const task = charge.kind === 'unattributed' ? {} : { taskId: charge.scope.taskId, task: charge.scope.task, queue: charge.scope.queue };
  return { ...task, source, err: coerceError(error) };
}
