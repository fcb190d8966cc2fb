/**
 * `celerity call <task> [--args JSON] [--kwargs JSON] [--queue Q] [--wait S]`, as Celery's
 * `celery call`: submits through the package's client; prints the task id, or with `--wait`
 * the task as the HTTP API represents it.
 */
import { Command } from 'commander';
import { CliError, EXIT } from './exit-codes.js';
import { APP_HELP, examples, type CliContext } from './context.js';
import { parseWait, waitAndPrint, withClient } from './client-session.js';

interface CallFlags {
  args?: string;
  kwargs?: string;
  queue?: string;
  wait?: string;
  app?: string;
}

/** `--args` / `--kwargs` parsed, or a CliError (exit 2) naming the flag and what is wrong. */
export function parseJsonFlag(flag: '--args' | '--kwargs', value: string | undefined): unknown[] | Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new CliError(EXIT.CONFIG, `${flag} is not valid JSON: ${(err as Error).message}`, `quote it for the shell, e.g. ${flag} '${flag === '--args' ? '[1, 2]' : '{"to": "a@example.com"}'}'.`, { cause: err });
  }
  if (flag === '--args' && !Array.isArray(parsed)) throw new CliError(EXIT.CONFIG, '--args must be a JSON array, e.g. [1, 2]');
  if (flag === '--kwargs' && (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))) {
    throw new CliError(EXIT.CONFIG, '--kwargs must be a JSON object, e.g. {"width": 100}');
  }
  return parsed as unknown[] | Record<string, unknown>;
}

async function runCall(ctx: CliContext, name: string, flags: CallFlags): Promise<void> {
  const args = parseJsonFlag('--args', flags.args) as unknown[] | undefined;
  const kwargs = parseJsonFlag('--kwargs', flags.kwargs) as Record<string, unknown> | undefined;
  const timeoutMs = parseWait(flags.wait);
  await withClient(ctx, flags.app, async (client) => {
    const handle = await client.submit(name, args, kwargs, flags.queue !== undefined ? { queue: flags.queue } : {});
    if (timeoutMs === undefined) ctx.print(`${handle.id}\n`);
    else await waitAndPrint(ctx, handle, timeoutMs);
  });
}

export function callCommand(ctx: CliContext): Command {
  return new Command('call')
    .description('submit a task, as Celery\'s `celery call`: prints its id, or with --wait the task as JSON once it finishes')
    .argument('<task>', 'the task name, e.g. emails.send')
    .option('--args <json>', 'positional arguments, a JSON array')
    .option('--kwargs <json>', 'keyword arguments, a JSON object')
    .option('--queue <name>', "the queue to send it to (default: the task's own, or celery)")
    .option('--wait <seconds>', 'wait this long for the task to finish and print it as JSON (exit 1 if it failed, 6 if it has not finished)')
    .option('-A, --app <module>', `${APP_HELP}; given, the name and arguments are checked before sending`)
    .addHelpText(
      'after',
      examples([
        "celerity call demo.add --args '[1, 2]'",
        'celerity call emails.send --kwargs \'{"to": "a@example.com"}\' --wait 30',
        "celerity call reports.build --queue reports --app ./tasks.js",
      ]),
    )
    .action((name: string, flags: CallFlags) => runCall(ctx, name, flags));
}
