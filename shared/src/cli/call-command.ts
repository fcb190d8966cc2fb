/**
 * `celerity call <task> [--args JSON] [--kwargs JSON] [--queue Q] [--wait S]
 * [--dedupe-key K --dedupe-mode singleton|throttle|debounce [--dedupe-window S]]`, as Celery's
 * `celery call`: submits through the package's client; prints the task id, or with `--wait`
 * the task as the HTTP API represents it. A deduplicated submit prints the earlier task's id;
 * the submit checks the dedupe option's values, as the HTTP API does.
 */
import { Command } from 'commander';
import type { SubmitOptions } from '../submit/index.js';
import { CliError, EXIT } from './exit-codes.js';
import { APP_HELP, examples, type CliContext } from './context.js';
import { parseWait, waitAndPrint, withClient } from './client-session.js';

interface CallFlags {
  args?: string;
  kwargs?: string;
  queue?: string;
  wait?: string;
  app?: string;
  dedupeKey?: string;
  dedupeMode?: string;
  dedupeWindow?: string;
}

/**
 * The `options.dedupe` of `--dedupe-key`, `--dedupe-mode` and `--dedupe-window`, or undefined
 * without them; a CliError (exit 2) when they do not go together. Their values are checked by
 * the submit (INVALID_DEDUPE), as over HTTP.
 */
function parseDedupeFlags(flags: Pick<CallFlags, 'dedupeKey' | 'dedupeMode' | 'dedupeWindow'>): SubmitOptions['dedupe'] {
  const { dedupeKey: key, dedupeMode: mode, dedupeWindow: window } = flags;
  if (key === undefined && mode === undefined && window === undefined) return undefined;
  if (key === undefined || mode === undefined) throw new CliError(EXIT.CONFIG, '--dedupe-key and --dedupe-mode go together', "e.g. --dedupe-key report-42 --dedupe-mode singleton, or --dedupe-mode throttle --dedupe-window 60");
  if (window !== undefined && !/^\d+(\.\d+)?$/.test(window)) throw new CliError(EXIT.CONFIG, `--dedupe-window must be a number of seconds, not "${window}"`);
  return { key, mode: mode as 'singleton', ...(window !== undefined ? { windowS: Number(window) } : {}) };
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
  const dedupe = parseDedupeFlags(flags);
  await withClient(ctx, flags.app, async (client) => {
    const handle = await client.submit(name, args, kwargs, { ...(flags.queue !== undefined ? { queue: flags.queue } : {}), ...(dedupe ? { dedupe } : {}) });
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
    .option('--dedupe-key <key>', 'deduplicate this submit against earlier ones with this key (per task name; with --dedupe-mode)')
    .option('--dedupe-mode <mode>', 'singleton (one unfinished task per key), throttle (one per window) or debounce (run once, the last input, a window after the last submit)')
    .option('--dedupe-window <seconds>', 'the window of throttle and debounce, in seconds (up to 86400)')
    .option('-A, --app <module>', `${APP_HELP}; given, the name and arguments are checked before sending`)
    .addHelpText(
      'after',
      examples([
        "celerity call demo.add --args '[1, 2]'",
        'celerity call emails.send --kwargs \'{"to": "a@example.com"}\' --wait 30',
        "celerity call search.reindex --kwargs '{\"index\": \"users\"}' --dedupe-key users --dedupe-mode debounce --dedupe-window 30",
      ]),
    )
    .action((name: string, flags: CallFlags) => runCall(ctx, name, flags));
}
