/**
 * Step 3 of the pipeline: runs an admitted task under its time limits, in-process or on the
 * thread pool, and says how it ended. A task stopped by the worker shutting down throws
 * TaskInterruptedError instead: it has no outcome, its message goes back to the queue.
 *
 * The limits and `startedAt` count from when the task executes: at once in-process, and for
 * a CPU task when a pool thread takes it (the wait for a free thread is not the task's time).
 * An in-process task runs in its own TaskScope, so a promise it rejects and leaves, or a
 * throw from its timers, fails it (crash-policy.ts) instead of its worker.
 */
import { backoff, type Logger } from '../../../shared/src/core/index.js';
import type { TaskMessage } from '../../../shared/src/broker/index.js';
import { TaskScope } from '../task-scope.js';
import type { ThreadPool } from '../thread-pool.js';
import type { TaskReports } from '../reports/task-reports.js';
import type { Admitted } from './admit.js';
import { TimeLimits } from './time-limits.js';
import { TaskInterruptedError } from './types.js';

/**
 * How the task's own code ended; a thrown error is already explained by the limits (a limit,
 * when one caused it); `revoked`: a revoke terminated it.
 */
export type TaskEnd = { kind: 'returned'; value: unknown } | { kind: 'threw'; error: Error } | { kind: 'revoked'; reason: string };

/** How the task ended, and when it started executing. */
export type RunOutcome = TaskEnd & { startedAt: Date };

export interface RunDeps {
  pool: Pick<ThreadPool, 'run'>;
  /** Hard time limit for tasks that set none, in seconds. */
  timeLimitS: number;
  /** Where `ctx.progress`, `ctx.stream` and `ctx.logger` lines go; absent = progress and output are dropped, lines only logged. */
  reports?: Pick<TaskReports, 'open'>;
}

const NO_REPORTS = { progress: () => undefined, stream: () => undefined, close: () => Promise.resolve() };

/**
 * The limits come from the message (Celery's `timelimit` header), else the task's
 * definition, else (hard limit only) the worker's default.
 */
export async function runTask(
  task: Admitted,
  message: TaskMessage,
  queue: string,
  shutdown: AbortSignal,
  deps: RunDeps,
  log: Logger,
  terminate?: AbortSignal,
): Promise<RunOutcome> {
  const hardLimitS = message.timelimit[0] ?? task.definition.timeLimitS ?? deps.timeLimitS;
  const softLimitS = message.timelimit[1] ?? task.definition.softTimeLimitS;
  const limits = new TimeLimits(shutdown, hardLimitS, softLimitS);
  if (terminate) limits.revokeOn(terminate);
  const scope = new TaskScope(message.id, message.name, queue);
  const reports = deps.reports?.open(message.id, log) ?? { ...NO_REPORTS, logger: log };
  let startedAt: Date | undefined;
  const start = (atMs: number = Date.now()): void => {
    if (startedAt) return;
    startedAt = new Date(atMs);
    limits.start();
  };
  try {
    const ctx = { id: message.id, name: message.name, queue, retries: message.retries };
    let running: Promise<unknown>;
    if (task.cpuAppUrl) {
      // The pool terminates the thread when the hard signal fires; the task signal reaches ctx.signal.
      running = deps.pool.run(
        { appUrl: task.cpuAppUrl, name: message.name, args: task.args, kwargs: task.kwargs, ctx },
        {
          hard: limits.hardSignal,
          task: limits.taskSignal,
          // Read when a line arrives: the tee logger is made only for tasks that log.
          get logger() {
            return reports.logger;
          },
          reports,
          onStart: start,
        },
      );
    } else {
      start();
      const taskCtx = {
        ...ctx,
        signal: limits.taskSignal,
        get logger() {
          return reports.logger;
        },
        progress: reports.progress,
        stream: reports.stream,
        backoff,
      };
      running = scope.run(() => Promise.resolve(task.run(task.args, task.kwargs, taskCtx)));
    }
    const value = await limits.race(Promise.race([running, scope.stray]));
    return { kind: 'returned', value, startedAt: startedAt ?? new Date() };
  } catch (thrown) {
    // Terminated by a revoke: REVOKED, even when the worker is stopping too (never requeued).
    if (limits.revoked) return { kind: 'revoked', reason: limits.revoked.message, startedAt: startedAt ?? new Date() };
    if (shutdown.aborted) {
      log.warn('task interrupted by the worker stopping; it goes back to the queue', { outcome: 'interrupted' });
      throw new TaskInterruptedError(`Task ${message.id} was interrupted`, { cause: thrown });
    }
    return { kind: 'threw', error: limits.explain(thrown), startedAt: startedAt ?? new Date() };
  } finally {
    scope.close();
    limits.clear();
    // Before the verdict is recorded: a stream sees every report of the run before its end.
    await reports.close();
  }
}
