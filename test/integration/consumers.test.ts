/**
 * Consumers come back: a channel reopen that fails is retried with backoff (meanwhile the
 * worker's /healthz says 503 and celerity_worker_consuming is 0), and a consumer the broker
 * cancels is re-subscribed, for the worker's task queues and the gateway's event monitor.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import type { Broker } from '../../shared/src/broker/connection.js';
import { TestContext, TEST_AMQP_URL, captureLogger, http, waitFor, type Task } from '../helpers/harness.js';

async function onBroker(fn: (channel: amqp.Channel) => Promise<unknown>): Promise<void> {
  const connection = await amqp.connect(TEST_AMQP_URL);
  try {
    const channel = await connection.createChannel();
    await fn(channel);
  } finally {
    await connection.close();
  }
}

describe('consumers are restored', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a failing consumer reopen is retried with backoff; /healthz says 503 meanwhile; consuming resumes', async () => {
    const queue = ctx.queue('reopen');
    const { logger, capture } = captureLogger('worker');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], logger, metrics: true });
    const health = async (): Promise<number> => (await fetch(`http://127.0.0.1:${worker.metricsPort}/healthz`)).status;
    const consumingMetric = async (): Promise<string | undefined> =>
      /^celerity_worker_consuming(?:{[^}]*})? (\d)/m.exec(await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text())?.[1];
    assert.equal(await health(), 200);
    // The queue's exchange turns into another type, so re-declaring the queue's topology is refused
    // (406); then the queue goes, and the broker cancels the worker's consumer.
    await onBroker(async (channel) => {
      await channel.deleteExchange(queue);
      await channel.assertExchange(queue, 'fanout', { durable: true });
      await channel.deleteQueue(queue);
    });
    await waitFor('two failed reopens', () => capture.entries.filter((e) => e.message === 'could not reopen the consumer channel; retrying').length >= 2, { timeoutMs: 30_000 });
    assert.equal(await health(), 503);
    assert.equal(await consumingMetric(), '0');
    await onBroker((channel) => channel.deleteExchange(queue));
    await waitFor('the worker to consume again', async () => (await health()) === 200, { timeoutMs: 30_000 });
    assert.equal(await consumingMetric(), '1');
    const res = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=30`, { json: { args: [2, 2], options: { queue } } });
    assert.equal(res.body.result, 4);
  });

  it("the gateway's event monitor re-subscribes after the broker cancels its consumer", async () => {
    const { logger, capture } = captureLogger('gateway');
    const { gateway } = await ctx.startGateway({ logger });
    const monitor = gateway.workerMonitor;
    const first = monitor.queue;
    assert.ok(first);
    // The monitor's queue is exclusive to the gateway's connection: delete it through that connection.
    const connection = (gateway as unknown as { parts: { broker: Broker } }).parts.broker.connection;
    assert.ok(connection);
    const channel = await connection.createChannel();
    await channel.deleteQueue(first);
    await channel.close();
    await waitFor('a new monitor queue', () => monitor.queue !== undefined && monitor.queue !== first, { timeoutMs: 30_000 });
    assert.ok(capture.entries.some((e) => e.message === 'the broker cancelled the event monitor consumer; re-subscribing'));
    // And it receives events again: a worker's heartbeat reaches it.
    const before = monitor.eventsReceived;
    const queue = ctx.queue('monitor');
    await ctx.startWorker({ queues: [queue] });
    await waitFor('events on the new queue', () => monitor.eventsReceived > before, { timeoutMs: 30_000 });
  });
});
