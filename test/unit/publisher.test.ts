/**
 * Publish backpressure with a fake broker and confirm channel: the bounded unconfirmed window,
 * waiting for `drain` when the write buffer is full, a bounded wait for a confirm, returned
 * (unroutable) messages, and a blocked connection.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ConfirmChannel } from 'amqplib';
import { CelerityError } from '../../shared/src/core/errors.js';
import { Publisher } from '../../shared/src/broker/publisher.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { taskTarget, type ReturnRule } from '../../shared/src/broker/publish-target.js';
import { type Broker as CelerityBroker } from '../../shared/src/broker/connection.js';
import { type DeclaredQueues } from '../../shared/src/broker/declared-topology.js';
import { track, turns, waitFor } from './support.js';

interface Sent {
  routingKey: string;
  options: { correlationId?: string; mandatory?: boolean };
  confirm: (err?: unknown) => void;
}

/** A confirm channel whose confirms, returns and buffer are driven by the test. */
class FakeChannel extends EventEmitter {
  readonly sent: Sent[] = [];
  /** What publish() returns: false = the write buffer is full. */
  accepting = true;

  publish(_exchange: string, routingKey: string, _content: Buffer, options: Sent['options'], cb: (err?: unknown) => void): boolean {
    this.sent.push({ routingKey, options, confirm: cb });
    return this.accepting;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function fakeBroker(channel: FakeChannel, blocked = false): CelerityBroker {
  const connection = { createConfirmChannel: () => Promise.resolve(channel as unknown as ConfirmChannel) };
  return {
    blocked,
    connection,
    onConnect: async (fn: (c: unknown) => Promise<void>) => fn(connection),
    offConnect: () => undefined,
    reopenChannel: () => undefined,
  } as unknown as CelerityBroker;
}

/** A declared-queue set that records what it declares and forgets. */
function fakeQueues(): { queues: DeclaredQueues; ensured: string[]; forgotten: string[] } {
  const declared = new Set(['q']);
  const ensured: string[] = [];
  const forgotten: string[] = [];
  const queues = {
    has: (queue: string) => declared.has(queue),
    ensure: (_connection: unknown, queue: string) => {
      ensured.push(queue);
      declared.add(queue);
      return Promise.resolve();
    },
    forget: (queue: string) => {
      forgotten.push(queue);
      declared.delete(queue);
    },
  } as unknown as DeclaredQueues;
  return { queues, ensured, forgotten };
}

const publishOf = (publisher: Publisher, id: string, queues = fakeQueues().queues, onReturn: ReturnRule = 'fail'): Promise<void> =>
  publisher.publish(taskTarget(queues, 'q', onReturn), { content: Buffer.from('{}'), options: { correlationId: id } });

describe('publisher backpressure', () => {
  it('holds at most maxUnconfirmed messages unconfirmed; the next publish waits for a slot', async () => {
    const channel = new FakeChannel();
    const publisher = await Publisher.create(fakeBroker(channel), { logger: createSilentLogger(), maxUnconfirmed: 2 });
    const a = track(publishOf(publisher, 'a'));
    const b = track(publishOf(publisher, 'b'));
    const c = track(publishOf(publisher, 'c'));
    await turns();
    assert.equal(channel.sent.length, 2, 'the third waits for a slot instead of being sent');
    assert.equal(publisher.unconfirmed, 2);
    channel.sent[0]?.confirm();
    await waitFor(() => channel.sent.length === 3, 'the third publish to be sent');
    channel.sent[1]?.confirm();
    channel.sent[2]?.confirm();
    await waitFor(() => c.state.status === 'fulfilled', 'all confirmed');
    assert.equal(a.state.status, 'fulfilled');
    assert.equal(b.state.status, 'fulfilled');
    assert.equal(publisher.unconfirmed, 0);
    assert.ok(channel.sent.every((s) => s.options.mandatory === true), 'every publish is mandatory');
  });

  it('publishes that get no confirm, or no slot, fail with BROKER_UNAVAILABLE within the confirm timeout, and give their slots back', async () => {
    const channel = new FakeChannel();
    const publisher = await Publisher.create(fakeBroker(channel), { logger: createSilentLogger(), maxUnconfirmed: 1, confirmTimeoutMs: 50 });
    const [first, second] = await Promise.allSettled([publishOf(publisher, 'a'), publishOf(publisher, 'b')]);
    for (const outcome of [first, second]) {
      assert.equal(outcome.status, 'rejected');
      const err: unknown = outcome.status === 'rejected' ? outcome.reason : undefined;
      assert.ok(err instanceof CelerityError && err.code === 'BROKER_UNAVAILABLE' && err.retryAfterS === 2, String(err));
    }
    assert.equal(publisher.unconfirmed, 0, 'every slot was given back');
  });

  it('when publish() reports a full buffer, later publishes wait for drain', async () => {
    const channel = new FakeChannel();
    const publisher = await Publisher.create(fakeBroker(channel), { logger: createSilentLogger() });
    channel.accepting = false;
    const a = track(publishOf(publisher, 'a'));
    await turns();
    channel.accepting = true;
    const b = track(publishOf(publisher, 'b'));
    await turns(10);
    assert.equal(channel.sent.length, 1, 'the second publish waits for drain');
    channel.emit('drain');
    await waitFor(() => channel.sent.length === 2, 'the second publish after drain');
    channel.sent[0]?.confirm();
    channel.sent[1]?.confirm();
    await waitFor(() => b.state.status === 'fulfilled', 'both confirmed');
    assert.equal(a.state.status, 'fulfilled');
  });

  it('a returned message fails with QUEUE_UNAVAILABLE even though the broker confirms it', async () => {
    const channel = new FakeChannel();
    const publisher = await Publisher.create(fakeBroker(channel), { logger: createSilentLogger() });
    const p = publishOf(publisher, 'lost');
    await turns();
    channel.emit('return', { properties: { correlationId: 'lost' } });
    channel.sent[0]?.confirm();
    await assert.rejects(p, (err: unknown) => err instanceof CelerityError && err.code === 'QUEUE_UNAVAILABLE');
  });

  it('a blocked connection (resource alarm) fails at once, sending nothing', async () => {
    const channel = new FakeChannel();
    const publisher = await Publisher.create(fakeBroker(channel, true), { logger: createSilentLogger() });
    await assert.rejects(publishOf(publisher, 'a'), (err: unknown) => err instanceof CelerityError && err.code === 'BROKER_UNAVAILABLE');
    assert.equal(channel.sent.length, 0);
  });
});

describe('publisher returns with a shared correlation id', () => {
  it('a return reaches the publish it belongs to when two publishes share a correlation id', async () => {
    const channel = new FakeChannel();
    const publisher = await Publisher.create(fakeBroker(channel), { logger: createSilentLogger() });
    const first = publishOf(publisher, 'same');
    const second = publishOf(publisher, 'same');
    first.catch(() => undefined);
    second.catch(() => undefined);
    await waitFor(() => channel.sent.length === 2, 'both publishes to be sent');
    // The broker's order: the first is confirmed; the second is returned, then confirmed.
    channel.sent[0]?.confirm();
    channel.emit('return', { properties: { correlationId: 'same' } });
    channel.sent[1]?.confirm();
    await assert.doesNotReject(first);
    await assert.rejects(second, (err: unknown) => err instanceof CelerityError && err.code === 'QUEUE_UNAVAILABLE');
  });

  it('a return of the first of two publishes with one id fails the first only', async () => {
    const channel = new FakeChannel();
    const publisher = await Publisher.create(fakeBroker(channel), { logger: createSilentLogger() });
    const first = publishOf(publisher, 'same');
    const second = publishOf(publisher, 'same');
    first.catch(() => undefined);
    second.catch(() => undefined);
    await waitFor(() => channel.sent.length === 2, 'both publishes to be sent');
    channel.emit('return', { properties: { correlationId: 'same' } });
    channel.sent[0]?.confirm();
    channel.sent[1]?.confirm();
    await assert.rejects(first, (err: unknown) => err instanceof CelerityError && err.code === 'QUEUE_UNAVAILABLE');
    await assert.doesNotReject(second);
  });
});

describe("a publish target's rule on a return", () => {
  it('fail: the queue is forgotten (declared again on next use) and the publish fails with QUEUE_UNAVAILABLE', async () => {
    const channel = new FakeChannel();
    const publisher = await Publisher.create(fakeBroker(channel), { logger: createSilentLogger() });
    const set = fakeQueues();
    const p = publishOf(publisher, 'x', set.queues, 'fail');
    p.catch(() => undefined);
    await waitFor(() => channel.sent.length === 1, 'the publish to be sent');
    channel.emit('return', { properties: { correlationId: 'x' } });
    channel.sent[0]?.confirm();
    await assert.rejects(p, (err: unknown) => err instanceof CelerityError && err.code === 'QUEUE_UNAVAILABLE');
    assert.deepEqual(set.forgotten, ['q']);
    assert.equal(channel.sent.length, 1, 'not published again');
    assert.deepEqual(set.ensured, [], 'not declared again by this publish');
  });

  it('redeclare: the queue is declared again and the message published once more; a second return fails', async () => {
    const channel = new FakeChannel();
    const publisher = await Publisher.create(fakeBroker(channel), { logger: createSilentLogger() });
    const set = fakeQueues();
    const again = publishOf(publisher, 'y', set.queues, 'redeclare');
    await waitFor(() => channel.sent.length === 1, 'the first publish');
    channel.emit('return', { properties: { correlationId: 'y' } });
    channel.sent[0]?.confirm();
    await waitFor(() => channel.sent.length === 2, 'the publish after the re-declaration');
    assert.deepEqual(set.ensured, ['q']);
    channel.sent[1]?.confirm();
    await assert.doesNotReject(again);
    const twice = publishOf(publisher, 'z', set.queues, 'redeclare');
    twice.catch(() => undefined);
    for (const n of [3, 4]) {
      await waitFor(() => channel.sent.length === n, `publish ${n}`);
      channel.emit('return', { properties: { correlationId: 'z' } });
      channel.sent[n - 1]?.confirm();
    }
    await assert.rejects(twice, (err: unknown) => err instanceof CelerityError && err.code === 'QUEUE_UNAVAILABLE');
    assert.equal(channel.sent.length, 4, 'one retry only');
  });
});
