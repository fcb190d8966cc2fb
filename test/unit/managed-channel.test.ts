/**
 * ManagedChannel with a fake broker and connection: setup on every open, reopen after the
 * server closed the channel (a failed reopen retried), errors logged with the owner's name,
 * and close(): idempotent, detached first, never a reopen.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManagedChannel } from '../../shared/src/broker/managed-channel.js';
import { createSilentLogger, type Logger } from '../../shared/src/core/logger.js';
import { FakeBroker, type FakeChannel } from './fake-amqp.js';
import { waitFor } from './support.js';

function capturingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = createSilentLogger();
  const original = logger.warn.bind(logger);
  logger.warn = ((message: string, ...rest: unknown[]) => {
    warnings.push(message);
    return original(message, ...(rest as []));
  }) as Logger['warn'];
  return { logger, warnings };
}

describe('ManagedChannel', () => {
  it('runs setup on the first channel before it counts as open, and again on each reopen', async () => {
    const fake = new FakeBroker();
    const setUp: number[] = [];
    const { logger, warnings } = capturingLogger();
    const managed = await ManagedChannel.open(fake.broker, {
      name: 'test channel',
      logger,
      setup: (channel) => {
        setUp.push((channel as unknown as FakeChannel).id);
        return Promise.resolve();
      },
    });
    assert.equal((managed.channel as unknown as FakeChannel).id, 1);
    assert.deepEqual(setUp, [1]);
    fake.channels[0]?.serverClose(406);
    assert.equal(managed.channel, undefined, 'not open while reopening');
    await waitFor(() => managed.channel !== undefined, 'the channel to reopen');
    assert.deepEqual(setUp, [1, 2]);
    assert.deepEqual(warnings, ['test channel error'], 'the error is logged with the owner name');
    await fake.reconnect();
    assert.deepEqual(setUp, [1, 2, 3], 'a reconnect opens and sets up a new channel');
    await managed.close();
  });

  it('retries a reopen whose setup fails, and reports the lost channel once', async () => {
    const fake = new FakeBroker();
    let failures = 2;
    const lost: number[] = [];
    const managed = await ManagedChannel.open(fake.broker, {
      name: 'test channel',
      logger: createSilentLogger(),
      setup: () => (fake.channels.length > 1 && failures-- > 0 ? Promise.reject(new Error('declare refused')) : Promise.resolve()),
      onLost: (channel) => lost.push((channel as unknown as FakeChannel).id),
    });
    fake.channels[0]?.serverClose(404);
    await waitFor(() => managed.channel !== undefined, 'the channel to reopen after two failed setups');
    assert.equal(fake.reopenAttempts, 3);
    assert.equal((managed.channel as unknown as FakeChannel).id, 4);
    assert.ok(fake.channels.slice(1, 3).every((c) => c.closed), 'the channels whose setup failed are closed');
    assert.deepEqual(lost, [1]);
    await managed.close();
  });

  it('close() twice gives one promise, detaches first and never reopens', async () => {
    const fake = new FakeBroker();
    const managed = await ManagedChannel.open(fake.broker, { name: 'test channel', logger: createSilentLogger() });
    const channel = fake.channels[0] as FakeChannel;
    const first = managed.close();
    assert.equal(managed.close(), first);
    await first;
    assert.ok(channel.closed);
    assert.equal(fake.setups.length, 0, 'no reconnect setup left');
    assert.equal(channel.listenerCount('close'), 0, 'no close listener of its own left');
    assert.equal(fake.reopenAttempts, 0);
    assert.equal(managed.channel, undefined);
    await fake.reconnect();
    assert.equal(fake.channels.length, 1, 'a reconnect after close opens nothing');
    managed.reopen();
    assert.equal(fake.channels.length, 1, 'reopen() after close does nothing');
  });

  it('a channel whose setup is still running when close() is called is closed, not kept', async () => {
    const fake = new FakeBroker();
    let release: (() => void) | undefined;
    let calls = 0;
    const managed = await ManagedChannel.open(fake.broker, {
      name: 'test channel',
      logger: createSilentLogger(),
      setup: () => (calls++ === 0 ? Promise.resolve() : new Promise<void>((resolve) => (release = resolve))),
    });
    managed.reopen();
    await waitFor(() => release !== undefined, 'the reopened channel to be in setup');
    await managed.close();
    release?.();
    await waitFor(() => fake.channels[1]?.closed === true, 'the late channel to be closed');
    assert.equal(managed.channel, undefined);
  });

  it('a failing setup on connect rejects open(), as any connection setup does', async () => {
    const fake = new FakeBroker();
    const refused = Object.assign(new Error('mismatch'), { code: 'QUEUE_MISMATCH' });
    await assert.rejects(ManagedChannel.open(fake.broker, { name: 'test channel', logger: createSilentLogger(), setup: () => Promise.reject(refused) }), refused);
    assert.ok(fake.channels[0]?.closed);
    assert.equal(fake.reopenAttempts, 0, 'no reopen loop');
  });
});

