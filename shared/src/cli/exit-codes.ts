/**
 * The `celerity` command's exit codes, and the error its commands throw to end with one. Scripts
 * and supervisors branch on the code: a configuration error (2) will not fix itself by a restart,
 * an unreachable service (3) may.
 */

export const EXIT = {
  OK: 0,
  /** The task failed (`call --wait`, `result`), or an unexpected error. */
  FAILED: 1,
  /** Invalid configuration, flags, app module or input (JSON that does not parse, arguments the task refuses). */
  CONFIG: 2,
  /** RabbitMQ or PostgreSQL cannot be reached, or refused the login. */
  UNREACHABLE: 3,
  /** The database schema is not migrated (with `--no-migrate`) or newer than this celerity. */
  SCHEMA: 4,
  /** What the command names does not exist (a queue to purge, a task id). */
  NOT_FOUND: 5,
  /** `--wait` ran out before the task finished (it may still finish). */
  TIMEOUT: 6,
  /** Stopped by a second Ctrl-C (SIGINT/SIGTERM) before the graceful stop ended. */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Ends a command with `exitCode`, printing `message` (and `hint` on a second line) to stderr. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** What to do about it, where the package is installed (no repository scripts). */
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
