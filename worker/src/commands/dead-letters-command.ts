/** `celerity dead-letters list|redrive --queue q`: a queue's dead letters (worker/src/dead-letters-cli.ts does the work). */
import { Command } from 'commander';
import { loadCommonConfig } from '../../../shared/src/config/index.js';
import { isValidQueueName, loggerFromConfig, QUEUE_NAME_RULE } from '../../../shared/src/core/index.js';
import { runDeadLetterCommand } from '../dead-letters-cli.js';
import { type CliContext, CliError, examples, EXIT } from '../../../shared/src/cli/index.js';

interface DeadLetterFlags {
  queue: string;
  limit: string;
  id?: string[];
}

async function runDeadLetters(ctx: CliContext, action: 'list' | 'redrive', flags: DeadLetterFlags): Promise<void> {
  const config = loadCommonConfig(ctx.env);
  ctx.services(config);
  if (!isValidQueueName(flags.queue)) throw new CliError(EXIT.CONFIG, `invalid --queue "${flags.queue}" (${QUEUE_NAME_RULE})`);
  if (!/^\d+$/.test(flags.limit) || Number(flags.limit) < 1) throw new CliError(EXIT.CONFIG, `--limit must be a positive whole number, got "${flags.limit}"`);
  const logger = loggerFromConfig('dead-letters', config, { stderr: true });
  const lines = await runDeadLetterCommand(config, logger, {
    action,
    queue: flags.queue,
    limit: Number(flags.limit),
    ...(flags.id && flags.id.length > 0 ? { ids: flags.id } : {}),
  });
  for (const line of lines) ctx.print(`${line}\n`);
}

export function deadLettersCommand(ctx: CliContext): Command {
  const deadLetters = new Command('dead-letters').description("list or re-drive a queue's dead letters (<queue>.dead)");
  deadLetters
    .command('list')
    .description('print dead letters as JSON lines, oldest first, without removing them')
    .requiredOption('-q, --queue <name>', 'the task queue whose dead letters to list')
    .option('-n, --limit <n>', 'most dead letters to print', '100')
    .addHelpText('after', examples(['celerity dead-letters list --queue emails', 'celerity dead-letters list -q emails -n 10 | jq .error']))
    .action((flags: DeadLetterFlags) => runDeadLetters(ctx, 'list', flags));
  deadLetters
    .command('redrive')
    .description('move dead letters back onto their queue with a fresh retry budget')
    .requiredOption('-q, --queue <name>', 'the task queue whose dead letters to re-drive')
    .option('-n, --limit <n>', 'most dead letters to re-drive', '1000')
    .option('--id <taskId...>', 'only these task ids')
    .addHelpText('after', examples(['celerity dead-letters redrive --queue emails', 'celerity dead-letters redrive -q emails --id 0b6f6f8e-3c1a-4d2e-9a53-2f7f5a0f8e11']))
    .action((flags: DeadLetterFlags) => runDeadLetters(ctx, 'redrive', flags));
  deadLetters.addHelpText('after', examples(['celerity dead-letters list --queue emails', 'celerity dead-letters redrive --queue emails']));
  return deadLetters;
}
