/**
 * Sends a delivery back to the broker with a confirm: round the delay queues (a retry, an
 * early eta, a deferred copy), or to its dead-letter queue. Both targets re-declare a queue
 * deleted behind the worker's back and publish once more (publish-target.ts): the delivery is
 * acked only after this confirm.
 */
import { randomUUID } from 'node:crypto';
import {
  DELAY_HEADER,
  deadLetterOptions,
  deadLetterQueueName,
  deadLetterTarget,
  delayLevelFor,
  delayedTarget,
  publishProperties,
  republishHeaders,
  type DeadReason,
  type DeclaredQueues,
  type Publisher,
} from '../../../shared/src/broker/index.js';
import { type Logger } from '../../../shared/src/core/index.js';
import type { Delivery, TaskError } from './types.js';

export interface RepublishDeps {
  publisher: Publisher;
  /** Dead-letter queues (`<queue>.dead`) and delay queues declared so far. */
  deadLetterQueues: DeclaredQueues;
  delayQueues: DeclaredQueues;
  logger: Logger;
}

/** Publishes this message (headers patched) to wait `delayMs` in the broker, then return to its queue. */
export async function publishDelayed(deps: RepublishDeps, delivery: Delivery, id: string, patch: Record<string, unknown>, delayMs: number): Promise<void> {
  const level = delayLevelFor(delayMs);
  const headers = { ...republishHeaders(delivery.properties.headers), ...patch, [DELAY_HEADER]: String(level) };
  const options = { ...publishProperties(delivery.properties), headers, deliveryMode: 2, correlationId: id };
  await deps.publisher.publish(delayedTarget(deps.delayQueues, level, delivery.queue, 'redeclare'), { content: delivery.content, options });
}

/** Publishes the dead letter of this delivery to `<queue>.dead` and waits for the confirm. */
export async function deadLetter(deps: RepublishDeps, delivery: Delivery, reason: DeadReason, error: TaskError | null, id: string | undefined): Promise<void> {
  const options = { ...deadLetterOptions(delivery.properties, delivery.queue, reason, error), correlationId: id ?? randomUUID() };
  await deps.publisher.publish(deadLetterTarget(deps.deadLetterQueues, delivery.queue), { content: delivery.content, options });
  deps.logger.error('message dead-lettered', { taskId: id, queue: delivery.queue, deadLetterQueue: deadLetterQueueName(delivery.queue), reason, error: error?.message });
}
