/**
 * `celerity purge <queue> [--force]`, as Celery's `celery purge`: removes the messages waiting
 * in one queue (not those workers hold unacked), after asking unless `--force`.
 */
import { Command } from 'commander';
import { withChannel } from '../broker/index.js';
import { isValidQueueName, QUEUE_NAME_RULE, redactUrl } from '../core/index.js';
import { checkQueue, withBroker } from './broker-session.js';
import { CliError, EXIT } from './exit-codes.js';
import { examples, type CliContext } from './context.js';

async function runPurge(ctx: CliContext, queue: string, flags: { force?: boolean }): Promise<void> {
  if (!isValidQueueName(queue)) throw new CliError(EXIT.CONFIG, `invalid queue name "${queue}" (${QUEUE_NAME_RULE})`);
  await withBroker(ctx, async (broker, _logger, config) => {
    const counts = await checkQueue(broker, queue);
    if (!counts) {
      throw new CliError(EXIT.NOT_FOUND, `no queue "${queue}" on RabbitMQ at ${config.amqpUrls.map(redactUrl).join(', ')}`, 'celerity status lists the queues of an app and of the workers running.');
    }
    if (!flags.force) {
      const yes = await ctx.confirm(`Remove the ${counts.ready} message(s) waiting in "${queue}"? This cannot be undone. [y/N] `);
      if (!yes) throw new CliError(EXIT.CONFIG, `nothing purged from "${queue}"`, 'answer y, or pass --force where there is no terminal to ask.');
    }
    const connection = broker.connection;
    if (!connection) throw new CliError(EXIT.UNREACHABLE, 'lost the connection to RabbitMQ');
    const { messageCount } = await withChannel(connection, (channel) => channel.purgeQueue(queue));
    ctx.print(`purged ${messageCount} message(s) from ${queue}\n`);
  });
}

export function purgeCommand(ctx: CliContext): Command {
  return new Command('purge')
    .description("remove the messages waiting in a queue, as Celery's `celery purge` (messages workers hold are not touched)")
    .argument('<queue>', 'the queue to empty')
    .option('-f, --force', 'do not ask')
    .addHelpText('after', examples(['celerity purge emails', 'celerity purge reports --force']))
    .action((queue: string, flags: { force?: boolean }) => runPurge(ctx, queue, flags));
}
