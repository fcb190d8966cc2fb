/**
 * A broker connection for `celerity purge` and `celerity status`, and the passive declare they
 * share: whether a queue exists, with its ready-message and consumer counts.
 */
import type { Channel } from 'amqplib';
import { type Broker, connectBroker, withChannel } from '../broker/index.js';
import { loadCommonConfig, type CommonConfig } from '../config/index.js';
import { loggerFromConfig, type Logger } from '../core/index.js';
import { CliError, EXIT } from './exit-codes.js';
import type { CliContext } from './context.js';

/** A queue as a passive declare sees it; undefined when it does not exist. */
export interface QueueCounts {
  ready: number;
  consumers: number;
}

/** The queue's counts, or undefined when the broker has no such queue (404 closes only that channel). */
export async function checkQueue(broker: Broker, queue: string): Promise<QueueCounts | undefined> {
  const connection = broker.connection;
  if (!connection) throw new CliError(EXIT.UNREACHABLE, 'lost the connection to RabbitMQ');
  return withChannel(connection, async (channel: Channel) => {
    try {
      const { messageCount, consumerCount } = await channel.checkQueue(queue);
      return { ready: messageCount, consumers: consumerCount };
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw err;
    }
  });
}

/** Runs `use` on a broker connection made from the environment, closed afterwards. */
export async function withBroker<T>(ctx: CliContext, use: (broker: Broker, logger: Logger, config: CommonConfig) => Promise<T>): Promise<T> {
  const config = loadCommonConfig(ctx.env);
  ctx.services(config);
  const logger = loggerFromConfig('celerity-cli', { ...config, logLevel: ctx.env.LOG_LEVEL ? config.logLevel : 'warn' }, { stderr: true });
  const broker = await connectBroker(config, logger, 'celerity-cli');
  try {
    return await use(broker, logger, config);
  } finally {
    await broker.close();
  }
}
