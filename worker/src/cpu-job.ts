/**
 * What crosses between the worker's main thread and a thread-pool thread for one CPU task:
 * the job going in, the outcome coming back, and the messages on the job's port (the soft
 * limit going in, log lines coming out). Errors cross as plain fields, because a thrown
 * error's class does not survive structured cloning and the retry decision needs its name.
 */
import type { MessagePort } from 'node:worker_threads';

/** The `ctx` fields that can cross to a thread (`signal` and `logger` are rebuilt there). */
interface CpuJobContext {
  id: string;
  name: string;
  queue: string;
  retries: number;
}

export interface CpuJob {
  /** `file:` URL of the app module the thread imports to find the task. */
  appUrl: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  ctx: CpuJobContext;
  /** Soft limit in, log lines and the start out; transferred to the thread, closed when the job ends. */
  port: MessagePort;
  /**
   * Set when the app is TypeScript run under tsx: the module (`tsx/esm/api`) whose `tsImport`
   * loads it in the thread, because Node 20 does not apply `--import` loaders to worker threads.
   */
  tsxApi?: string;
  /** Set for the start-up check: import the app and say which of these CPU tasks it lacks; run nothing. */
  check?: string[];
}

export interface CrossedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
  /** A RateLimitedError's pause, in seconds (core/errors.ts). */
  retryAfterS?: number;
}

/**
 * The result travels as JSON text: a value JSON cannot carry fails in the thread, clearly.
 * `startedAtMs`: when the thread took the job (epoch ms), which is when its time limits start.
 */
export type CpuOutcome = ({ ok: true; json: string | undefined } | { ok: false; error: CrossedError }) & { startedAtMs: number };

/** Thread → main, first thing: the job has its thread (the time limits start now). */
export interface StartedMessage {
  type: 'started';
  atMs: number;
}

/**
 * Name (prefix: each pool adds an id of its own) of the BroadcastChannel on which pool threads report a stray error (an unhandled
 * rejection, an uncaught throw) that failed no running job: it came after its task ended, or
 * from no task. The thread keeps running; the main thread logs it.
 */
export const STRAY_CHANNEL = 'celerity:cpu-strays';

export interface StrayReport {
  level: 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
  error: CrossedError;
}

/** Main → thread: the soft time limit passed (or the task is being stopped). */
export interface AbortMessage {
  type: 'abort';
  error: CrossedError;
}

/** Thread → main: one line of the task's `ctx.logger`. */
export interface LogMessage {
  type: 'log';
  entry: Record<string, unknown>;
}

/** Thread → main: a `ctx.progress` or `ctx.stream` call, its values as the task gave them (checked on the main thread). */
export type ReportMessage = { type: 'progress'; fraction: unknown; message: unknown } | { type: 'output'; chunk: unknown };

/** Name of the error a task fails with when its result cannot be stored as JSON (never retried). */
export const UNSERIALISABLE_RESULT = 'ResultNotSerializableError';

export function toCrossedError(value: unknown): CrossedError {
  if (value instanceof Error) {
    const { code, retryAfterS } = value as { code?: unknown; retryAfterS?: unknown };
    return {
      name: value.name || 'Error',
      message: value.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof retryAfterS === 'number' ? { retryAfterS } : {}),
      ...(value.stack ? { stack: value.stack } : {}),
    };
  }
  return { name: 'Error', message: typeof value === 'string' ? value : `Non-error thrown: ${String(value)}` };
}

export function fromCrossedError(crossed: CrossedError): Error {
  const err = new Error(crossed.message);
  err.name = crossed.name;
  if (crossed.code !== undefined) (err as Error & { code?: string }).code = crossed.code;
  if (crossed.retryAfterS !== undefined) (err as Error & { retryAfterS?: number }).retryAfterS = crossed.retryAfterS;
  if (crossed.stack !== undefined) err.stack = crossed.stack;
  return err;
}
