/**
 * Sends a delivery back to the broker with a confirm: round the delay queues (a retry, an
 * early eta, a deferred copy), or to its dead-letter queue.
 */
import { randomUUID } from 'node:crypto';
import {
  CelerityError,
  DELAY_EXCHANGE,
  DELAY_HEADER,
  deadLetterOptions,
  deadLetterQueueName,
  delayLevelFor,
  delayQueueName,
  publishProperties,
  republishHeaders,
  type Broker,
  type DeadReason,
  type Logger,
  type Publisher,
  type TaskQueues,
} from '../../../shared/src/index.js';
import type { Delivery, TaskError } from './types.js';

export interface RepublishDeps {
  broker: Broker;
  publisher: Publisher;
  /** Dead-letter queues (`<queue>.dead`) and delay queues declared so far. */
  deadLetterQueues: TaskQueues;
  delayQueues: TaskQueues;
  logger: Logger;
}

/** Publishes this message (headers patched) to wait `delayMs` in the broker, then return to its queue. */
export async function publishDelayed(deps: RepublishDeps, delivery: Delivery, id: string, patch: Record<string, unknown>, delayMs: number): Promise<void> {
  const level = delayLevelFor(delayMs);
  const headers = { ...republishHeaders(delivery.properties.headers), ...patch, [DELAY_HEADER]: String(level) };
  const options = { ...publishProperties(delivery.properties), headers, deliveryMode: 2, correlationId: id };
  await publishTo(deps, deps.delayQueues, delayQueueName(level), DELAY_EXCHANGE, delivery.queue, delivery.content, options);
}

/** Publishes the dead letter of this delivery to `<queue>.dead` and waits for the confirm. */
export async function deadLetter(deps: RepublishDeps, delivery: Delivery, reason: DeadReason, error: TaskError | null, id: string | undefined): Promise<void> {
  const deadQueue = deadLetterQueueName(delivery.queue);
  const options = { ...deadLetterOptions(delivery.properties, delivery.queue, reason, error), correlationId: id ?? randomUUID() };
  await publishTo(deps, deps.deadLetterQueues, deadQueue, '', deadQueue, delivery.content, options);
  deps.logger.error('message dead-lettered', { taskId: id, queue: delivery.queue, deadLetterQueue: deadQueue, reason, error: error?.message });
}

/**
 * Declares `declare` (once per connection) and publishes with a confirm. A queue deleted
 * behind our back comes back as a returned message: declare it again and publish once more.
 */
async function publishTo(
  deps: RepublishDeps,
  queues: TaskQueues,
  declare: string,
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: Parameters<Publisher['publish']>[3],
): Promise<void> {
  for (let round = 1; ; round++) {
    const connection = deps.broker.connection;
    if (!connection) throw new CelerityError('BROKER_UNAVAILABLE', 'Not connected to the broker');
    await queues.ensure(connection, declare);
    try {
      await deps.publisher.publish(exchange, routingKey, content, options);
      return;
    } catch (err) {
      if (round >= 2 || !(err instanceof CelerityError) || err.code !== 'QUEUE_UNAVAILABLE') throw err;
      queues.forget(declare);
    }
  }
}
