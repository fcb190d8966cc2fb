/**
 * The worker's slot gate (several quorum queues, `-c 1`), with a fake broker: a delivery waiting
 * in the gate when its channel is lost never runs (the broker has it back); a delivery waiting
 * past the gate's bound is handed back (nack, requeue) before RabbitMQ's consumer_timeout.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { Consumer } from '../../worker/src/consumer.js';
import type { TaskRunner } from '../../worker/src/task-runner.js';
import { FakeBroker } from './fake-amqp.js';
import { deferred, waitFor, type Deferred } from './support.js';

/** A runner whose runs end when the test says; it records which task ids ran. */
function fakeRunner(): { runner: TaskRunner; ran: string[]; finish: Map<string, Deferred<void>> } {
  const ran: string[] = [];
  const finish = new Map<string, Deferred<void>>();
  const runner = {
    run: async (delivery: { properties: { correlationId?: unknown } }) => {
      const id = String(delivery.properties.correlationId);
      ran.push(id);
      const done = deferred();
      finish.set(id, done);
      await done.promise;
      return 'ack';
    },
  } as unknown as TaskRunner;
  return { runner, ran, finish };
}

const QUORUM = { default: 'quorum', perQueue: {} } as const;

describe('the slot gate of a worker on several quorum queues', () => {
  it('a delivery waiting in the gate when its channel is lost does not run when the slot frees', async () => {
    const fake = new FakeBroker();
    const { runner, ran, finish } = fakeRunner();
    const consumer = await Consumer.create(fake.broker, runner, { queues: ['qa', 'qb'], concurrency: 1, logger: createSilentLogger(), queueTypes: QUORUM });
    const first = fake.last;
    first.deliver('qa', 'long');
    first.deliver('qb', 'held');
    await waitFor(() => ran.length === 1, 'the long task to run');
    await first.close();
    await waitFor(() => fake.channels.length === 2 && consumer.consuming, 'a new channel');
    // Something arrives on the new channel: it must get the slot, not the stale copy.
    const second = fake.last;
    second.deliver('qa', 'next');
    finish.get('long')?.resolve();
    await waitFor(() => ran.length === 2, 'the next task to run');
    finish.get('next')?.resolve();
    await waitFor(() => second.acked.length === 1, 'the next task to be acked');
    assert.deepEqual(ran, ['long', 'next'], 'the stale copy never ran');
    assert.equal(first.acked.length + first.nacked.length, 0, 'nothing settled on the dead channel');
    await consumer.stop(100);
  });

  it('a delivery waiting in the gate past its bound is handed back to the broker (nack, requeue), not run', async () => {
    const fake = new FakeBroker();
    const { runner, ran, finish } = fakeRunner();
    const consumer = await Consumer.create(fake.broker, runner, { queues: ['qa', 'qb'], concurrency: 1, logger: createSilentLogger(), queueTypes: QUORUM, gateHoldMs: 20 });
    const channel = fake.last;
    channel.deliver('qa', 'long');
    const held = channel.deliver('qb', 'held');
    await waitFor(() => channel.nacked.length === 1, 'the waiting delivery to be handed back');
    assert.equal(channel.nacked[0]?.message, held);
    assert.equal(channel.nacked[0]?.requeue, true);
    assert.equal(consumer.inFlight, 1, 'only the running task is held');
    finish.get('long')?.resolve();
    await waitFor(() => channel.acked.length === 1, 'the long task to be acked');
    assert.deepEqual(ran, ['long']);
    await consumer.stop(100);
  });
});
