/**
 * What the worker process does with an error nobody caught (installed by the entry point,
 * cli.ts, the only place that installs process handlers). One task's failure, however it
 * fails, is that task's failure alone:
 *
 * - a rejection or a throw from a task's code (its async context, see task-scope.ts) while
 *   the task runs fails that task, through its normal failure path (retries as configured);
 *   the worker keeps running and logs one line;
 * - the same after the task ended: its outcome stands; logged, the worker keeps running;
 * - a rejection outside any task: logged, the worker keeps running (nothing is left broken by
 *   a promise nobody awaited);
 * - a throw outside any task (a bug in the worker or a library it uses): logged as one line,
 *   then the worker drains — the tasks it runs finish and are recorded as usual, so none of
 *   them pays for the crash — and exits with code 1. A second one while draining exits at once.
 */
import type { Logger } from '../../shared/src/core/index.js';
import { chargeStrayError, strayFields } from './task-scope.js';

export interface CrashPolicyOptions {
  logger: Logger;
  /** Ends the process (process.exit in the CLI). */
  exit: (code: number) => void;
}

export interface CrashPolicy {
  /** Drains the worker after a crash outside any task; until set, such a crash exits at once. */
  drainWith(drain: () => Promise<void>): void;
  /** Removes the handlers (tests). */
  uninstall(): void;
}

/** Installs the policy on `target` (the process). */
export function installCrashPolicy(target: NodeJS.Process, options: CrashPolicyOptions): CrashPolicy {
  const { logger, exit } = options;
  let drain: (() => Promise<void>) | undefined;
  let crashing = false;

  const onRejection = (reason: unknown): void => {
    const charge = chargeStrayError(reason);
    const fields = strayFields(charge, reason, 'unhandledRejection');
    if (charge.kind === 'failed') logger.error('a task left a promise rejection unhandled: the task fails with it; the worker keeps running', fields);
    else if (charge.kind === 'late') logger.warn('a task left a promise rejection unhandled after it ended: its outcome stands; the worker keeps running', fields);
    else logger.error('unhandled promise rejection outside any task: ignored; the worker keeps running', fields);
  };

  const onException = (error: unknown): void => {
    const charge = chargeStrayError(error);
    const fields = strayFields(charge, error, 'uncaughtException');
    if (charge.kind === 'failed') {
      logger.error('a task threw outside its own call (a timer, a callback): the task fails with it; the worker keeps running', fields);
      return;
    }
    if (charge.kind === 'late') {
      logger.warn('a task threw outside its own call after it ended: its outcome stands; the worker keeps running', fields);
      return;
    }
    if (crashing || !drain) {
      logger.error('worker crashed: uncaught exception outside any task; exiting', { ...fields, outcome: 'crash' });
      exit(1);
      return;
    }
    crashing = true;
    logger.error('worker crashed: uncaught exception outside any task; draining its running tasks, then exiting', { ...fields, outcome: 'crash' });
    drain().then(
      () => exit(1),
      (err: unknown) => {
        logger.error('worker crashed and could not drain; exiting', { err });
        exit(1);
      },
    );
  };

  target.on('unhandledRejection', onRejection);
  target.on('uncaughtException', onException);
  return {
    drainWith(fn) {
      drain = fn;
    },
    uninstall() {
      target.off('unhandledRejection', onRejection);
      target.off('uncaughtException', onException);
    },
  };
}
