/**
 * `worker dead-letters list|redrive --queue q`: the operator's view of a queue's dead letters
 * (see shared/src/broker/dead-letters.ts). Prints JSON lines, so the output pipes into jq.
 */
import amqp from 'amqplib';
import {
  Broker,
  DeclaredQueues,
  declareTaskQueue,
  listDeadLetters,
  Publisher,
  redriveDeadLetters,
} from '../../shared/src/broker/index.js';
import { createLogger, type Logger } from '../../shared/src/core/index.js';
import { createPool, TaskStore } from '../../shared/src/store/index.js';
import { type CommonConfig } from '../../shared/src/config/index.js';

export interface DeadLetterCommand {
  action: 'list' | 'redrive';
  queue: string;
  limit: number;
  ids?: string[];
}

/** Runs one dead-letter command; resolves with the lines to print. */
export async function runDeadLetterCommand(config: CommonConfig, logger: Logger, command: DeadLetterCommand): Promise<string[]> {
  if (command.action === 'list') {
    const connection = await connectFirst(config.amqpUrls);
    try {
      const letters = await listDeadLetters(connection, command.queue, command.limit);
      return letters.map((letter) => JSON.stringify(letter));
    } finally {
      await connection.close().catch(() => undefined);
    }
  }
  return redrive(config, logger, command);
}

/** Re-drives through the confirmed publisher, as the gateway's route does. */
async function redrive(config: CommonConfig, logger: Logger, command: DeadLetterCommand): Promise<string[]> {
  // stdout carries the result as JSON: the connection says only what went wrong, not that it connected.
  const brokerLogger = createLogger({ service: 'dead-letters', level: config.logLevel === 'error' ? 'error' : 'warn' });
  const broker = await Broker.create({
    urls: config.amqpUrls,
    logger: brokerLogger,
    connectionName: 'celerity-dead-letters',
    heartbeatS: config.heartbeatS,
    // A command fails fast instead of waiting for a broker that is not there.
    initialConnectTimeoutMs: 5_000,
    ...(config.amqpTls ? { tls: config.amqpTls } : {}),
  });
  const pool = createPool({ url: config.databaseUrl, schema: config.databaseSchema, logger, applicationName: 'celerity-dead-letters', max: 1 });
  let publisher: Publisher | undefined;
  try {
    publisher = await Publisher.create(broker, { logger: brokerLogger });
    const store = new TaskStore(pool, { logger });
    const taskQueues = new DeclaredQueues(undefined, (channel, queue) => declareTaskQueue(channel, queue, config.queueTypes));
    const { redriven, skipped } = await redriveDeadLetters({ broker, publisher, taskQueues }, command.queue, {
      limit: command.limit,
      ...(command.ids ? { ids: command.ids } : {}),
      beforePublish: (ids) => store.resetForRedrive(ids),
    });
    return [JSON.stringify({ queue: command.queue, redriven: redriven.length, ids: redriven, skipped })];
  } finally {
    await publisher?.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    await broker.close();
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
