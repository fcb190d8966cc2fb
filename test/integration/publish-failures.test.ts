/** Publishes that fail every time do not loop hot, and lose nothing. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { deadLetterQueueName } from '../../shared/src/broker/dead-letters.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { TestContext, TEST_AMQP_URL, captureLogger, http, waitFor, type Task } from '../helpers/harness.js';

describe('deterministic publish failures', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a dead letter the broker refuses every time is requeued after a growing delay, not in a hot loop', async () => {
    const queue = ctx.queue('deadargs');
    // `<queue>.dead` exists with other arguments: the worker's declaration of it is refused (406).
    const connection = await amqp.connect(TEST_AMQP_URL);
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue(deadLetterQueueName(queue), { durable: true, arguments: { 'x-max-length': 1 } });
    } finally {
      await connection.close();
    }
    const { logger, capture } = captureLogger('worker');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue], logger });
    const submitted = await http<Task>(`${url}/api/v1/tasks/demo.fail`, { json: { args: ['boom'], options: { queue } } });
    const id = submitted.body.id;
    const delays = await waitFor('three delayed requeues', () => {
      const d = capture.entries.filter((e) => e.taskId === id && typeof e.retryInMs === 'number' && e.failures !== undefined).map((e) => e.retryInMs as number);
      return d.length >= 3 ? d : undefined;
    }, { timeoutMs: 30_000 });
    assert.deepEqual(delays.slice(0, 3), [500, 1000, 2000]);
    assert.equal((await ctx.store.get(id))?.state, 'FAILURE', 'the outcome is recorded; only its dead letter is pending');
  });

  it('a raw message whose id is over 255 bytes is dead-lettered as malformed, and the worker keeps serving', async () => {
    const queue = ctx.queue('longid');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const id = 'x'.repeat(300);
    const message = encodeTaskMessage(newTaskMessage({ id, name: 'demo.fail', args: ['boom'], kwargs: {} }));
    await ctx.publishRaw(queue, message.content, { ...message.options, correlationId: 'short-correlation-id' });
    await waitFor('the malformed dead letter', async () => (await ctx.deadLetters(queue)).some((l) => l.reason === 'malformed'));
    const canary = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=30`, { json: { args: [1, 1], options: { queue } } });
    assert.equal(canary.body.result, 2);
  });
});
