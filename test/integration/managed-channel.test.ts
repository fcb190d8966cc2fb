/**
 * ManagedChannel against the real broker: a channel the server closes (a declare refused with
 * 406 PRECONDITION_FAILED on it) is reopened and set up again; close() twice is one close, and
 * leaves no setup registered with the broker and no listener on the channel. A setup registered
 * while the connection is being reopened runs on that connection.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Channel } from 'amqplib';
import { Broker } from '../../shared/src/broker/connection.js';
import { ManagedChannel, withChannel } from '../../shared/src/broker/managed-channel.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { declareTaskQueue } from '../../shared/src/broker/apply-topology.js';
import { TEST_AMQP_URL } from '../helpers/env.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

/** Closes, from the broker's side, the connection a client named `name` (rabbitmqctl, as an operator would). */
async function closeFromBroker(name: string): Promise<void> {
  const listed = await run('rabbitmqctl', ['list_connections', 'pid', 'client_properties', '-q']);
  const pid = listed.stdout.split('\n').find((line) => line.includes(`"${name}"`))?.trim().split(/\s+/)[0];
  assert.ok(pid, `a connection named ${name} in:\n${listed.stdout}`);
  await run('rabbitmqctl', ['close_connection', pid, 'closed by the managed-channel test']);
}

describe('ManagedChannel on the broker', () => {
  let broker: Broker;
  let queue: string;
  let connectionName: string;
  beforeEach(async () => {
    queue = `celerity.test.managed.${randomBytes(4).toString('hex')}`;
    connectionName = `celerity-test-managed-${queue}`;
    broker = await Broker.create({ urls: [TEST_AMQP_URL], logger: createSilentLogger(), connectionName, minReconnectDelayMs: 50 });
  });
  afterEach(async () => {
    const connection = broker.connection;
    if (connection) {
      await withChannel(connection, async (channel) => {
        await channel.deleteQueue(queue);
        await channel.deleteExchange(queue);
      });
    }
    await broker.close();
  });

  it('reopens a channel the server closed and runs setup again; close() twice detaches everything', async () => {
    const setupsBefore = broker.setupCount;
    const setUp: Channel[] = [];
    /** 'close' listeners on each channel while it is being set up: amqplib's own plus the managed channel's. */
    const closeListeners = new Map<Channel, number>();
    const managed = await ManagedChannel.open(broker, {
      name: 'test channel',
      logger: createSilentLogger(),
      setup: async (channel) => {
        await declareTaskQueue(channel, queue);
        closeListeners.set(channel, channel.listenerCount('close'));
        setUp.push(channel);
      },
    });
    const first = managed.channel;
    assert.ok(first);
    assert.equal(setUp.length, 1);
    assert.equal(broker.setupCount, setupsBefore + 1);

    // The same queue declared with other arguments: the broker answers 406 and closes the channel.
    await assert.rejects(first.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 1 } }), (err: unknown) => (err as { code?: unknown }).code === 406);
    await waitFor('the channel to be reopened and set up again', () => managed.channel !== undefined && managed.channel !== first, { timeoutMs: 20_000 });
    assert.equal(setUp.length, 2);
    const second = managed.channel;
    assert.ok(second);
    // The new channel works.
    const ok = await second.checkQueue(queue);
    assert.equal(ok.queue, queue);

    const closing = managed.close();
    assert.equal(managed.close(), closing, 'the second close() gets the same promise');
    await closing;
    assert.equal(managed.channel, undefined);
    assert.equal(broker.setupCount, setupsBefore, 'no setup left registered with the broker');
    assert.equal(second.listenerCount('close'), (closeListeners.get(second) ?? 0) - 1, "the managed channel's close listener is gone");
    // The connection is still fine and nothing reopens: a new short-lived channel sees the queue.
    const connection = broker.connection;
    assert.ok(connection);
    await withChannel(connection, (channel) => channel.checkQueue(queue));
    assert.equal(setUp.length, 2, 'closing did not trigger a reopen');
  });

  it('a setup registered while the connection is being reopened runs on that connection, not only on the next one', async () => {
    let reopening: (() => void) | undefined;
    const reopened = new Promise<void>((resolve) => (reopening = resolve));
    let release: (() => void) | undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    // The first setup holds the reconnect half-way until the second one is registered.
    await broker.onConnect(async () => {
      if (++calls === 1) return;
      reopening?.();
      await released;
    });
    const old = broker.connection;
    assert.ok(old);
    await old.close();
    await reopened;
    const ranOn: unknown[] = [];
    const registered = broker.onConnect((connection) => {
      ranOn.push(connection);
      return Promise.resolve();
    });
    release?.();
    await registered;
    await waitFor('the connection to be back', () => broker.connected && broker.connection !== old);
    assert.deepEqual(ranOn, [broker.connection], 'the late setup ran once, on the new connection');
  });

  it('a setup whose connection the broker closes while it runs: onConnect resolves (a starting process keeps starting) and the setup runs again on the next connection', async () => {
    const ranOn: unknown[] = [];
    await broker.onConnect(async (connection) => {
      ranOn.push(connection);
      const channel = await connection.createChannel();
      if (ranOn.length === 1) {
        const closed = new Promise((resolve) => channel.once('close', resolve));
        await closeFromBroker(connectionName);
        await closed;
        // What a start-up step sees when the connection goes in the middle of it.
        await channel.checkQueue('amq.rabbitmq.trace');
      }
      await channel.close();
    });
    assert.equal(ranOn.length, 1);
    await waitFor('the setup to run again on a new connection', () => ranOn.length === 2 && broker.connected, { timeoutMs: 20_000 });
    assert.notEqual(ranOn[1], ranOn[0]);
    assert.equal(broker.connection, ranOn[1]);
  });

  it('a setup that fails on a live connection still rejects onConnect (a refused declare is an error to report)', async () => {
    await assert.rejects(
      broker.onConnect(async (connection) => {
        const channel = await connection.createChannel();
        await channel.checkQueue(`${queue}.missing`);
      }),
      (err: unknown) => (err as { code?: unknown }).code === 404,
    );
  });
});
