/**
 * Re-driving dead letters: moves dead letters of a queue back onto their task queue with a
 * fresh retry count, through the confirmed publisher (a return fails that one re-drive: its
 * dead letter stays). Each is acked from the dead-letter queue only after the broker confirmed
 * its re-publish, so a failure half-way leaves every message in one queue or the other (at
 * worst, both).
 */
import type { GetMessage } from 'amqplib';
import type { Broker } from './connection.js';
import type { DeclaredQueues } from './declared-topology.js';
import { deadLetterQueueName, describeDeadLetter, publishProperties, queueExists, withoutDeadLetterHeaders, type DeadLetter } from './dead-letters.js';
import { openTransientChannel } from './managed-channel.js';
import { taskTarget } from './publish-target.js';
import type { Publisher } from './publisher.js';
import { CelerityError } from '../core/index.js';
import { publishTimeHeaders } from './queue-wait.js';

/** What a re-drive publishes with: the broker, the confirmed publisher and the task-queue set. */
export interface RedriveParts {
  broker: Broker;
  publisher: Publisher;
  /** The task queues the re-driven messages go to are declared through this set. */
  taskQueues: DeclaredQueues;
}

export interface RedriveOptions {
  /** Only these task ids; all when absent. */
  ids?: readonly string[];
  /** Most messages re-driven in one call. @default 1000 */
  limit?: number;
  /**
   * Called with the task ids about to be re-driven, after their task queues are declared and
   * before anything is published: the store puts them back to PENDING here (after the
   * publish, a fast worker could finish first). Ids it `skipped` (already finished otherwise)
   * are not re-driven: their dead letters are acked as stale duplicates. `undo` gets the ids
   * whose publish failed, so no task stays PENDING without a message.
   */
  beforePublish?: (ids: string[]) => Promise<{ skipped: string[]; undo: (ids: string[]) => Promise<void> }>;
}

/** Moves dead letters of `queue` back onto their task queues (see the top of this file). */
export async function redriveDeadLetters(parts: RedriveParts, queue: string, options: RedriveOptions = {}): Promise<{ redriven: string[]; skipped: string[] }> {
  const connection = parts.broker.connection;
  if (!connection) throw new CelerityError('BROKER_UNAVAILABLE', 'Not connected to the broker', { retryAfterS: 2 });
  const deadQueue = deadLetterQueueName(queue);
  if (!(await queueExists(connection, deadQueue))) return { redriven: [], skipped: [] };
  const limit = options.limit ?? 1000;
  const wanted = options.ids ? new Set(options.ids) : undefined;
  // Fetches and acks only; the re-publishes go through the publisher's confirm channel.
  const channel = await openTransientChannel(connection);
  try {
    const picked: { message: GetMessage; letter: DeadLetter & { id: string } }[] = [];
    const seen = new Set<string>();
    // Bounded scan: a filter by id over a huge dead-letter queue stops after this many.
    const scanLimit = Math.max(limit * 10, 10_000);
    for (let fetched = 0; picked.length < limit && fetched < scanLimit; fetched++) {
      const message = await channel.get(deadQueue, { noAck: false });
      if (!message) break;
      const letter = describeDeadLetter(message, deadQueue);
      const id = letter.id;
      // Messages left unpicked stay unacked and return to the queue when the channel closes.
      if (id === null || (wanted && !wanted.has(id))) continue;
      if (seen.has(id)) {
        // The same task dead-lettered twice (at-least-once): re-drive it once.
        channel.ack(message);
        continue;
      }
      seen.add(id);
      picked.push({ message, letter: { ...letter, id } });
    }
    if (picked.length === 0) return { redriven: [], skipped: [] };
    // Declared before the store is touched: a refused declaration leaves every task as it was.
    // Afresh, not from the set's memory: since the task died its queue may have been deleted,
    // or made again with other arguments (which must refuse the re-drive, not swallow it).
    const targets = new Map([...new Set(picked.map((p) => p.letter.queue))].map((name) => [name, taskTarget(parts.taskQueues, name)]));
    for (const [name, target] of targets) {
      parts.taskQueues.forget(name);
      await parts.publisher.declare(target);
    }
    const reset = await options.beforePublish?.(picked.map((p) => p.letter.id));
    const skipped = new Set(reset?.skipped ?? []);
    const sending: Promise<{ id: string; message: GetMessage; ok: boolean }>[] = [];
    for (const { message, letter } of picked) {
      const { id } = letter;
      if (skipped.has(id)) {
        channel.ack(message);
        continue;
      }
      // Published afresh: its queue wait counts from now, not from before it was dead-lettered.
      const headers = { ...withoutDeadLetterHeaders(message.properties.headers), ...publishTimeHeaders() };
      headers.retries = 0;
      const target = targets.get(letter.queue) ?? taskTarget(parts.taskQueues, letter.queue);
      const options = { ...publishProperties(message.properties), headers, deliveryMode: 2, correlationId: id };
      sending.push(
        parts.publisher.publish(target, { content: message.content, options }).then(
          () => ({ id, message, ok: true }),
          () => ({ id, message, ok: false }),
        ),
      );
    }
    // Each publish is confirmed (or fails) on its own: only the ones that failed are undone.
    const outcomes = await Promise.all(sending);
    const failed = outcomes.filter((o) => !o.ok).map((o) => o.id);
    if (failed.length > 0) await reset?.undo(failed);
    const redriven: string[] = [];
    for (const { id, message, ok } of outcomes) {
      if (!ok) continue;
      channel.ack(message);
      redriven.push(id);
    }
    return { redriven, skipped: [...skipped].filter((id) => seen.has(id)) };
  } finally {
    await channel.close().catch(() => undefined);
  }
}
