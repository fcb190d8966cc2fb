/**
 * The package's own client (`createClient`) for `celerity call` and `celerity result`: the same
 * settings as every process (AMQP_URL, DATABASE_URL, DATABASE_SCHEMA), logs on stderr so that
 * stdout holds only the command's output, and the app's tasks when there is an app module (then
 * names and arguments are checked before anything is sent).
 */
import { type Client, createClient, TaskFailedError, TaskTimeoutError } from '../client/index.js';
import type { TaskHandle } from '../client/index.js';
import { loadCommonConfig } from '../config/index.js';
import { loggerFromConfig } from '../core/index.js';
import type { TaskDefinition } from '../app/index.js';
import { loadAppModule } from './app-module.js';
import { CliError, EXIT } from './exit-codes.js';
import type { CliContext } from './context.js';

/** Longest `--wait`, in seconds (a day). */
const MAX_WAIT_S = 86_400;

/** `--wait S` in ms; a CliError (exit 2) for anything but a positive number of seconds. */
export function parseWait(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_WAIT_S) {
    throw new CliError(EXIT.CONFIG, `--wait must be a number of seconds above 0 and at most ${MAX_WAIT_S}, got "${value}"`);
  }
  return Math.round(seconds * 1000);
}

/** Runs `use` on a connected client, closed afterwards whatever happens. */
export async function withClient<T>(ctx: CliContext, app: string | undefined, use: (client: Client) => Promise<T>): Promise<T> {
  // An app module (--app or CELERITY_APP) makes the client check names and arguments.
  const tasks: readonly TaskDefinition[] | undefined = app !== undefined || ctx.env.CELERITY_APP?.trim() ? (await loadAppModule(app, ctx.env)).tasks : undefined;
  const config = loadCommonConfig(ctx.env);
  ctx.services(config);
  const logger = loggerFromConfig('celerity-cli', { ...config, logLevel: ctx.env.LOG_LEVEL ? config.logLevel : 'warn' }, { stderr: true });
  const client = await createClient({ env: ctx.env, logger, ...(tasks ? { tasks } : {}) });
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

/**
 * Waits up to `timeoutMs` for the task, prints its representation (the HTTP API's JSON) and
 * sets the exit code: 0 SUCCESS, 1 FAILURE or REVOKED, 6 not finished in time.
 */
export async function waitAndPrint(ctx: CliContext, handle: TaskHandle, timeoutMs: number): Promise<void> {
  let code: number = EXIT.OK;
  try {
    await handle.result({ timeoutMs });
  } catch (err) {
    if (err instanceof TaskFailedError) code = EXIT.FAILED;
    else if (err instanceof TaskTimeoutError) code = EXIT.TIMEOUT;
    else throw err;
  }
  const info = (await handle.info()) ?? { id: handle.id, state: await handle.state() };
  ctx.print(`${JSON.stringify(info, null, 2)}\n`);
  ctx.exitCode(code);
}
