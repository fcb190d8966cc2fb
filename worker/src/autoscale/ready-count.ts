/**
 * How many messages wait in a worker's queues: a passive declare of each (`checkQueue`) answers
 * with its ready count, on a short-lived channel because a queue deleted meanwhile (404) closes
 * the channel it was asked on.
 */
import type { Broker } from '../../../shared/src/broker/index.js';
import { eachOnTransientChannel } from '../../../shared/src/broker/index.js';

/** Ready messages in `queues`, summed; a queue that is gone counts 0. Rejects without a connection. */
export async function countReady(broker: Broker, queues: readonly string[]): Promise<number> {
  const connection = broker.connection;
  if (!connection) throw new Error('no broker connection');
  let ready = 0;
  await eachOnTransientChannel(
    connection,
    queues,
    async (channel, queue) => {
      ready += (await channel.checkQueue(queue)).messageCount;
    },
    (_queue, err) => {
      if ((err as { code?: unknown }).code !== 404) throw err;
    },
  );
  return ready;
}
