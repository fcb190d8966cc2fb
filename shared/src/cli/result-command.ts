/**
 * `celerity result <id> [--wait S]`, as Celery's `celery result`: the task as the HTTP API
 * represents it, from the result store (waiting for it to finish with `--wait`).
 */
import { Command } from 'commander';
import { CliError, EXIT } from './exit-codes.js';
import { examples, type CliContext } from './context.js';
import { parseWait, waitAndPrint, withClient } from './client-session.js';

async function runResult(ctx: CliContext, id: string, flags: { wait?: string }): Promise<void> {
  const timeoutMs = parseWait(flags.wait);
  // Never an app here: a result needs no task definitions.
  await withClient({ ...ctx, env: { ...ctx.env, CELERITY_APP: '' } }, undefined, async (client) => {
    const handle = client.get(id);
    if (timeoutMs !== undefined) return waitAndPrint(ctx, handle, timeoutMs);
    const info = await handle.info();
    if (!info) throw new CliError(EXIT.NOT_FOUND, `no task ${id} in the result store`, 'a task submitted a moment ago may not be stored yet: try --wait; results are kept for RESULT_RETENTION_HOURS.');
    ctx.print(`${JSON.stringify(info, null, 2)}\n`);
    if (info.state === 'FAILURE' || info.state === 'REVOKED') ctx.exitCode(EXIT.FAILED);
  });
}

export function resultCommand(ctx: CliContext): Command {
  return new Command('result')
    .description("print a task as JSON (state, result or error), as Celery's `celery result`")
    .argument('<id>', 'the task id')
    .option('--wait <seconds>', 'wait this long for it to finish (exit 1 if it failed, 6 if it has not finished)')
    .addHelpText('after', examples(['celerity result 0b6f6f8e-3c1a-4d2e-9a53-2f7f5a0f8e11', 'celerity result "$(celerity call demo.add --args \'[1, 2]\')" --wait 30']))
    .action((id: string, flags: { wait?: string }) => runResult(ctx, id, flags));
}
