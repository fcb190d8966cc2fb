/**
 * A task's time limits (Celery's semantics). Soft: the task's AbortSignal fires with a
 * SoftTimeLimitExceeded reason, so a cooperative task can clean up and stop. Hard: the
 * worker stops waiting — a thread-pool task's thread is terminated; an in-process task
 * cannot be killed, so it is failed and its slot given back while it winds down unobserved.
 */
import { coerceError, MAX_TIMER_MS } from '../../../shared/src/core/index.js';
import { SOFT_TIME_LIMIT, TIME_LIMIT } from './types.js';


export class TimeLimits {
  readonly #task = new AbortController();
  readonly #hard = new AbortController();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #shutdown: AbortSignal;
  readonly #onShutdown: () => void;
  #hardExpired = false;
  #softExpired = false;
  #rejectHard: ((err: Error) => void) | undefined;
  #revoked: Error | undefined;
  #unwatchRevoke: (() => void) | undefined;

  readonly #hardS: number | null;
  readonly #softS: number | null | undefined;
  #started = false;

  /**
   * Watches `shutdown` at once; the limits count only from `start()` (when the task has its
   * thread, for a CPU task: a wait for a pool thread is not execution).
   * @param hardS hard limit in seconds (null: none) @param softS soft limit in seconds (null or undefined: none)
   */
  constructor(shutdown: AbortSignal, hardS: number | null, softS: number | null | undefined) {
    this.#shutdown = shutdown;
    this.#hardS = hardS;
    this.#softS = softS;
    this.#onShutdown = () => {
      this.#task.abort(shutdown.reason);
      this.#hard.abort(shutdown.reason);
    };
    if (shutdown.aborted) this.#onShutdown();
    else shutdown.addEventListener('abort', this.#onShutdown, { once: true });
  }

  /** The task started executing: both limits count from now. Only the first call counts. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const softS = this.#softS;
    const hardS = this.#hardS;
    if (softS !== null && softS !== undefined && softS > 0 && softS * 1000 <= MAX_TIMER_MS) {
      this.#timers.push(
        setTimeout(() => {
          this.#softExpired = true;
          this.#task.abort(limitError(SOFT_TIME_LIMIT, `Soft time limit (${softS} s) exceeded`));
        }, softS * 1000),
      );
    }
    if (hardS !== null && hardS > 0 && hardS * 1000 <= MAX_TIMER_MS) {
      this.#timers.push(
        setTimeout(() => {
          this.#hardExpired = true;
          const err = limitError(TIME_LIMIT, `Time limit (${hardS} s) exceeded`);
          this.#task.abort(err);
          this.#hard.abort(err);
          this.#rejectHard?.(err);
        }, hardS * 1000),
      );
    }
  }

  /**
   * A revoke with `terminate`: when `signal` fires, the task's signal fires, a CPU task's
   * thread is stopped (the hard signal), and the run ends at once, as at the hard limit.
   */
  revokeOn(signal: AbortSignal): void {
    const onRevoke = (): void => {
      const reason: unknown = signal.reason;
      const err = reason instanceof Error ? reason : new Error('Terminated by a revoke');
      this.#revoked = err;
      this.#task.abort(err);
      this.#hard.abort(err);
      this.#rejectHard?.(err);
    };
    if (signal.aborted) return onRevoke();
    signal.addEventListener('abort', onRevoke, { once: true });
    this.#unwatchRevoke = () => signal.removeEventListener('abort', onRevoke);
  }

  /** Set once a revoke terminated the task: the error it was stopped with. */
  get revoked(): Error | undefined {
    return this.#revoked;
  }

  /** For in-process tasks: fires on shutdown and on either limit. */
  get taskSignal(): AbortSignal {
    return this.#task.signal;
  }

  /** For thread-pool tasks: fires on shutdown and on the hard limit. */
  get hardSignal(): AbortSignal {
    return this.#hard.signal;
  }

  /** Settles with the task, or rejects at the hard limit even if the task never settles. */
  race<T>(running: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#rejectHard = reject;
      if (this.#revoked) reject(this.#revoked);
      running.then(resolve, reject);
    });
  }

  /** The error to record for what the task threw: a limit, when one caused it. */
  explain(thrown: unknown): Error {
    if (this.#hardExpired) return limitError(TIME_LIMIT, (this.#hard.signal.reason as Error).message);
    if (this.#softExpired && !this.#shutdown.aborted) {
      const err = coerceError(thrown);
      return err.name === SOFT_TIME_LIMIT ? err : limitError(SOFT_TIME_LIMIT, `Soft time limit exceeded (${err.message})`);
    }
    return coerceError(thrown);
  }

  /** The task ended: no limit fires after this (a late `start()` arms nothing either). */
  clear(): void {
    this.#started = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#shutdown.removeEventListener('abort', this.#onShutdown);
    this.#unwatchRevoke?.();
    this.#rejectHard = undefined;
  }
}

function limitError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}
