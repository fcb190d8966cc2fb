/**
 * One style for every error a command ends with, to stderr:
 *
 *   celerity: cannot reach PostgreSQL at postgres://celerity:***@db:5432/app (DATABASE_URL): connect ECONNREFUSED 10.0.0.5:5432
 *   celerity: hint: is PostgreSQL running and reachable from this host? Check DATABASE_URL.
 *
 * naming the flag or variable the user set, the service and its URL (password hidden), and an
 * exit code from exit-codes.ts. `--verbose` (or DEBUG) adds the stack, causes included.
 */
import { BrokerAuthError, BrokerUnreachableError, QueueMismatchError } from '../broker/index.js';
import { SchemaVersionError } from '../store/index.js';
import {
  CelerityError,
  ConfigError,
  type ErrorCode,
  redactSecrets,
  redactUrl,
} from '../core/index.js';
import { CliError, EXIT } from './exit-codes.js';

/** Where the services were configured, to name them in an error. */
export interface ServiceSettings {
  amqpUrls: readonly string[];
  /** The variable or flag that set the broker URL. @default 'AMQP_URL' */
  amqpSetting?: string;
  databaseUrl: string;
  /** @default 'DATABASE_URL' */
  databaseSetting?: string;
}

/** Error codes that mean "what you gave is wrong": the input, the app, the options. */
const INPUT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_APP',
  'INVALID_TASK_DEFINITION',
  'INVALID_ARGUMENTS',
  'INVALID_OPTIONS',
  'INVALID_DEDUPE',
  'INVALID_QUEUE',
  'INVALID_WAIT',
  'INVALID_REQUEST',
  'MALFORMED_JSON',
  'OPTION_NOT_SUPPORTED',
  'UNKNOWN_TASK',
  'ARGUMENTS_TOO_LARGE',
  'UNSTORABLE_VALUE',
]);

const UNREACHABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['BROKER_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'QUEUE_UNAVAILABLE', 'QUEUE_FULL']);

function causeMessage(err: Error): string {
  const cause = err.cause;
  return redactSecrets(cause instanceof Error ? cause.message : err.message);
}

/** `err` as the CliError it ends the command with. */
function toCliError(err: unknown, services?: ServiceSettings): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ConfigError) return new CliError(EXIT.CONFIG, `invalid configuration: ${err.message}`, undefined, { cause: err });
  if (err instanceof BrokerUnreachableError) {
    const setting = services?.amqpSetting ?? 'AMQP_URL';
    const where = services ? ` at ${services.amqpUrls.map(redactUrl).join(', ')}` : '';
    return new CliError(EXIT.UNREACHABLE, `cannot reach RabbitMQ${where} (${setting}): ${causeMessage(err)}`, `is RabbitMQ running and reachable from this host? Check ${setting}.`, { cause: err });
  }
  if (err instanceof BrokerAuthError) {
    const setting = services?.amqpSetting ?? 'AMQP_URL';
    return new CliError(EXIT.UNREACHABLE, redactSecrets(err.message), `check the user, password, vhost and permissions in ${setting}.`, { cause: err });
  }
  if (err instanceof SchemaVersionError) {
    const hint =
      err.code === 'SCHEMA_AHEAD'
        ? 'install the celerity version that migrated it (or newer), or point DATABASE_SCHEMA at another schema.'
        : '`celerity migrate` applies them (with the same DATABASE_URL and DATABASE_SCHEMA); without --no-migrate / AUTO_MIGRATE=false, workers and gateways apply them at start.';
    return new CliError(EXIT.SCHEMA, err.message, hint, { cause: err });
  }
  if (err instanceof QueueMismatchError) {
    // No restart fixes it: the queue exists with other arguments (another QUEUE_TYPES, a Celery client).
    return new CliError(EXIT.CONFIG, redactSecrets(err.message), 'give every process the same QUEUE_TYPES, or delete the queue once it is empty.', { cause: err });
  }
  if (err instanceof CelerityError) {
    if (INPUT_CODES.has(err.code)) return new CliError(EXIT.CONFIG, redactSecrets(err.message), undefined, { cause: err });
    if (UNREACHABLE_CODES.has(err.code)) return new CliError(EXIT.UNREACHABLE, redactSecrets(err.message), undefined, { cause: err });
    if (err.code === 'TASK_NOT_FOUND') return new CliError(EXIT.NOT_FOUND, err.message, undefined, { cause: err });
  }
  const message = err instanceof Error ? redactSecrets(err.message) : String(err);
  return new CliError(EXIT.FAILED, message, 'run it again with --verbose (or DEBUG=1) to see the stack.', { cause: err });
}

/** The stack of `err` and of each cause under it, redacted. */
function stacks(err: unknown): string[] {
  const out: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof CliError) continue;
    out.push(`${depth > 0 ? 'caused by: ' : ''}${redactSecrets(e.stack ?? `${e.name}: ${e.message}`)}`);
  }
  return out;
}

/** The text a command prints to stderr for `err`, and the code it exits with. */
export function formatError(err: unknown, options: { verbose: boolean; services?: ServiceSettings }): { text: string; exitCode: number } {
  const cli = toCliError(err, options.services);
  const lines = [`celerity: ${cli.message}`];
  if (cli.hint) lines.push(`celerity: hint: ${cli.hint}`);
  if (options.verbose) lines.push(...stacks(cli.cause ?? cli));
  return { text: `${lines.join('\n')}\n`, exitCode: cli.exitCode };
}
