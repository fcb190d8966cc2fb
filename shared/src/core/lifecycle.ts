/**
 * The two pieces every long-running part shares when it stops: shutdown steps that all run even
 * when one fails (each failure logged and counted, as graphile-worker and pg-boss close), and
 * the signal rule of the entry points (first SIGINT/SIGTERM graceful, second force).
 */

/** The logger calls the helpers make (any winston logger fits). */
interface StepLogger {
  error(message: string, meta: object): void;
}

/** A shutdown in steps: `run()` each step in order; `failures` holds what failed. */
export interface ShutdownSteps {
  /** Runs `fn`; a failure is logged as `<label>: <name> failed` and kept, and never stops the next step. */
  readonly run: (name: string, fn: () => Promise<unknown>) => Promise<void>;
  /** What failed so far, in order. */
  readonly failures: readonly unknown[];
  /** Throws an AggregateError of the failures, `<count> step(s) of <what> failed`, when there are any. */
  readonly throwIfFailed: (what: string) => void;
}

/** Starts a shutdown in steps; `label` starts each failure's log line (`gateway shutdown`, `shutdown`). */
export function shutdownSteps(logger: StepLogger, label: string): ShutdownSteps {
  const failures: unknown[] = [];
  return {
    failures,
    run: async (name, fn) => {
      try {
        await fn();
      } catch (err) {
        failures.push(err);
        logger.error(`${label}: ${name} failed`, { err });
      }
    },
    throwIfFailed: (what) => {
      if (failures.length > 0) throw new AggregateError(failures, `${failures.length} step(s) of ${what} failed`);
    },
  };
}

/** The logger calls `onSignals` makes. */
interface SignalLogger extends StepLogger {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * First SIGINT/SIGTERM: `graceful()`, then exit 0 (1 if it failed); a second one: `force()`
 * (which exits, or makes `graceful()` end soon). For entry points only: it exits the process.
 */
export function onSignals(graceful: () => Promise<void>, force: () => void, logger: SignalLogger): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn(`second ${signal}: stopping now`);
      force();
      return;
    }
    logger.info(`${signal}: stopping gracefully (a second signal forces exit)`);
    graceful().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
