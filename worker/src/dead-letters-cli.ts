/**
 * `worker dead-letters list|redrive --queue q`: the operator's view of a queue's dead letters
 * (see shared/src/amqp/dead-letters.ts). Prints JSON lines, so the output pipes into jq.
 */
import amqp from 'amqplib';
import {
  createPool,
  listDeadLetters,
  redriveDeadLetters,
  TaskStore,
  type CommonConfig,
  type Logger,
} from '../../shared/src/index.js';

export interface DeadLetterCommand {
  action: 'list' | 'redrive';
  queue: string;
  limit: number;
  ids?: string[];
}

/** Runs one dead-letter command; resolves with the lines to print. */
export async function runDeadLetterCommand(config: CommonConfig, logger: Logger, command: DeadLetterCommand): Promise<string[]> {
  const connection = await connectFirst(config.amqpUrls);
  try {
    if (command.action === 'list') {
      const letters = await listDeadLetters(connection, command.queue, command.limit);
      return letters.map((letter) => JSON.stringify(letter));
    }
    const pool = createPool({ url: config.databaseUrl, schema: config.databaseSchema, logger, applicationName: 'celerity-dead-letters', max: 1 });
    const store = new TaskStore(pool, { logger });
    try {
      const { redriven, skipped } = await redriveDeadLetters(connection, command.queue, {
        limit: command.limit,
        ...(command.ids ? { ids: command.ids } : {}),
        beforePublish: (ids) => store.resetForRedrive(ids),
        ...(config.queueTypes ? { queueTypes: config.queueTypes } : {}),
      });
      return [JSON.stringify({ queue: command.queue, redriven: redriven.length, ids: redriven, skipped })];
    } finally {
      await pool.end().catch(() => undefined);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Connects to the first broker URL that answers; the error names every URL's failure. */
async function connectFirst(urls: readonly string[]): Promise<amqp.ChannelModel> {
  const failures: string[] = [];
  for (const url of urls) {
    try {
      return await amqp.connect(url);
    } catch (err) {
      failures.push(`${new URL(url).host}: ${(err as Error).message}`);
    }
  }
  throw new Error(`Could not connect to the broker (${failures.join('; ')})`);
}
