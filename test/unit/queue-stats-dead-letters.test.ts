/**
 * QueueStats' dead-letter sampling against a fake broker: `<queue>.dead` counts into
 * celerity_dead_letter_messages{queue}, a missing one reads 0 and is asked again after 1, 2, 4,
 * 8, then every 12 rounds (each ask of a missing queue costs a channel and a broker log line),
 * and the series goes when its task queue goes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Broker } from '../../shared/src/broker/connection.js';
import { createRegistry } from '../../shared/src/core/metrics.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { GatewayMetrics } from '../../gateway/src/metrics.js';
import { QueueStats } from '../../gateway/src/queue-stats.js';

/** A broker whose queues are a map of name → ready messages; records every passive declare. */
function fakeBroker(queues: Map<string, number>): { broker: Broker; asked: string[]; channels: () => number } {
  const asked: string[] = [];
  let channels = 0;
  const connection = {
    createChannel: () => {
      channels++;
      return Promise.resolve({
        on: () => undefined,
        close: () => Promise.resolve(),
        checkQueue: (name: string) => {
          asked.push(name);
          const messages = queues.get(name);
          if (messages === undefined) return Promise.reject(Object.assign(new Error(`NOT_FOUND - no queue '${name}'`), { code: 404 }));
          return Promise.resolve({ queue: name, messageCount: messages, consumerCount: 1 });
        },
      });
    },
  };
  return { broker: { connection } as unknown as Broker, asked, channels: () => channels };
}

async function deadGauge(metrics: GatewayMetrics): Promise<Record<string, number>> {
  return Object.fromEntries((await metrics.deadLetterMessages.get()).values.map((v) => [String(v.labels.queue), v.value]));
}

describe('QueueStats: dead letters', () => {
  it('a missing dead-letter queue reads 0 and is asked again after 1, 2, 4, 8, then every 12 rounds', async () => {
    const queues = new Map([['q', 3]]);
    const { broker, asked } = fakeBroker(queues);
    const metrics = new GatewayMetrics(createRegistry('gateway', false));
    const stats = await QueueStats.create(broker, { queues: () => ['q'], logger: createSilentLogger(), metrics, intervalMs: 3_600_000 });
    try {
      const askedIn: number[] = [];
      // Round 1 ran in create().
      if (asked.includes('q.dead')) askedIn.push(1);
      for (let round = 2; round <= 46; round++) {
        asked.length = 0;
        await stats.sampleNow();
        assert.ok(asked.includes('q'), `round ${round} samples the task queue`);
        if (asked.includes('q.dead')) askedIn.push(round);
        assert.deepEqual(await deadGauge(metrics), { q: 0 }, `round ${round}`);
      }
      assert.deepEqual(askedIn, [1, 3, 6, 11, 20, 33, 46]);

      // Once it exists it is read, and from then on asked every round.
      queues.set('q.dead', 5);
      asked.length = 0;
      for (let round = 47; round <= 59 && !asked.includes('q.dead'); round++) {
        asked.length = 0;
        await stats.sampleNow();
      }
      assert.deepEqual(await deadGauge(metrics), { q: 5 });
      queues.set('q.dead', 7);
      await stats.sampleNow();
      assert.deepEqual(await deadGauge(metrics), { q: 7 });
    } finally {
      await stats.close();
    }
  });

  it('a dead-letter queue is not asked for its own dead letters; the series goes with its task queue', async () => {
    const queues = new Map([
      ['a', 0],
      ['a.dead', 2],
      ['b', 1],
      ['b.dead', 4],
    ]);
    const { broker, asked } = fakeBroker(queues);
    const metrics = new GatewayMetrics(createRegistry('gateway', false));
    const stats = await QueueStats.create(broker, { queues: () => ['a', 'a.dead', 'b'], logger: createSilentLogger(), metrics, intervalMs: 3_600_000 });
    try {
      assert.deepEqual(await deadGauge(metrics), { a: 2, b: 4 });
      assert.ok(!asked.includes('a.dead.dead'));
      queues.delete('a');
      await stats.sampleNow();
      assert.deepEqual(await deadGauge(metrics), { b: 4 }, 'a deleted queue leaves no dead-letter series behind');
      assert.equal(stats.get('a'), undefined);
      assert.equal(stats.get('b')?.messages, 1);
    } finally {
      await stats.close();
    }
  });
});
