/**
 * ManagedChannel owns its consumers: they are subscribed on every new channel; the one cancel
 * policy (declare and consume again on the same channel, else reopen the channel); drain()
 * cancels them and keeps the channel current for acks; isCurrent tells a live channel.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManagedChannel } from '../../shared/src/broker/managed-channel.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { FakeBroker } from './fake-amqp.js';
import { waitFor } from './support.js';

describe('ManagedChannel.consume', () => {
  it('subscribes now and on every new channel; a broker cancel re-declares and consumes again on the same channel', async () => {
    const fake = new FakeBroker();
    const managed = await ManagedChannel.open(fake.broker, { name: 'test channel', logger: createSilentLogger() });
    const declared: number[] = [];
    const cancels: string[] = [];
    const got: string[] = [];
    await managed.consume(
      (channel) => {
        declared.push((channel as unknown as { id: number }).id);
        return Promise.resolve('q');
      },
      (message) => got.push(String(message.properties.correlationId)),
      { onCancel: (queue) => cancels.push(queue) },
    );
    const first = fake.last;
    assert.equal(managed.consuming, true);
    first.deliver('q', 'a');
    first.cancelConsumer('q');
    assert.deepEqual(cancels, ['q']);
    await waitFor(() => managed.resubscribes === 1, 'the re-subscribe');
    assert.equal(fake.channels.length, 1, 'the same channel: deliveries in flight there stay ackable');
    assert.deepEqual(declared, [1, 1], 'declared again before consuming again');
    first.deliver('q', 'b');
    // The server closes the channel: a new one, subscribed again.
    await first.close();
    await waitFor(() => fake.channels.length === 2 && managed.consuming, 'a new subscribed channel');
    assert.equal(managed.isCurrent(first as never), false);
    assert.equal(managed.isCurrent(fake.last as never), true);
    fake.last.deliver('q', 'c');
    assert.deepEqual(got, ['a', 'b', 'c']);
    await managed.close();
  });

  it('a re-subscribe that fails closes the channel, and the reopen path subscribes on a new one', async () => {
    const fake = new FakeBroker();
    const managed = await ManagedChannel.open(fake.broker, { name: 'test channel', logger: createSilentLogger() });
    await managed.consume('q', () => undefined);
    const first = fake.last;
    first.failNextConsume = true;
    first.cancelConsumer('q');
    await waitFor(() => first.closed, 'the channel to be closed');
    await waitFor(() => fake.channels.length === 2 && managed.consuming, 'a new subscribed channel');
    assert.equal(fake.last.consumers.size, 1);
    await managed.close();
  });

  it('drain() cancels every consumer, subscribes none again, and keeps the channel current for acks', async () => {
    const fake = new FakeBroker();
    const managed = await ManagedChannel.open(fake.broker, { name: 'test channel', logger: createSilentLogger() });
    await managed.consume('qa', () => undefined);
    await managed.consume('qb', () => undefined);
    const channel = fake.last;
    await managed.drain();
    assert.equal(channel.cancelled.length, 2);
    assert.equal(channel.consumers.size, 0);
    assert.equal(managed.isCurrent(channel as never), true, 'still current: acks go on');
    assert.equal(managed.consuming, false);
    assert.equal(channel.closed, false);
    await assert.rejects(managed.consume('qc', () => undefined), { code: 'SHUTTING_DOWN' });
    await managed.close();
    assert.equal(managed.isCurrent(channel as never), false);
  });
});

describe('ManagedChannel.consume under random cancels and channel losses (property)', () => {
  it('after any sequence, every consumer is subscribed exactly once, on the live channel, and hears only its own deliveries', async () => {
    const queues = ['qa', 'qb', 'qc'];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('cancel' as const), queue: fc.constantFrom(...queues), fails: fc.boolean() }),
      fc.record({ kind: fc.constant('close' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 8 }), async (ops) => {
        const fake = new FakeBroker();
        const managed = await ManagedChannel.open(fake.broker, { name: 'test channel', logger: createSilentLogger() });
        const heard = new Map<string, string[]>(queues.map((q) => [q, []]));
        for (const queue of queues) await managed.consume(queue, (message) => heard.get(queue)?.push(String(message.properties.correlationId)));
        for (const step of ops) {
          const channel = fake.last;
          if (step.kind === 'close') await channel.close();
          else {
            channel.failNextConsume = step.fails;
            channel.cancelConsumer(step.queue);
          }
          await waitFor(() => managed.consuming && !fake.last.closed, 'the consumers to be back');
        }
        const live = fake.last;
        assert.deepEqual([...live.consumers.values()].map((c) => c.queue).sort(), queues, 'one consumer per queue on the live channel');
        for (const channel of fake.channels) if (channel !== live) assert.ok(channel.closed || channel.consumers.size === 0);
        for (const queue of queues) live.deliver(queue, `m-${queue}`);
        for (const queue of queues) assert.deepEqual(heard.get(queue), [`m-${queue}`]);
        await managed.close();
      }),
      { numRuns: 40 },
    );
  });
});
