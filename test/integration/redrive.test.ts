/** Re-driving dead letters: a state guard, and no PENDING task left without a message. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { TestContext, TEST_AMQP_URL, http, waitFor, type Task } from '../helpers/harness.js';

describe('dead-letter re-drive', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  async function failedTask(url: string, queue: string): Promise<string> {
    const res = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=30`, { json: { args: ['boom'], options: { queue } } });
    assert.equal(res.body.state, 'FAILURE');
    await waitFor('the dead letter', async () => (await ctx.deadLetters(queue)).length === 1);
    return res.body.id;
  }

  it('a stale dead letter of a task that has since succeeded is acked and skipped, not re-run', async () => {
    const queue = ctx.queue('stale');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue] });
    const id = await failedTask(url, queue);
    // As if a re-drive of an earlier duplicate had run the task to SUCCESS since.
    await ctx.pool.query(`UPDATE tasks SET state = 'SUCCESS', result = '7', error_type = NULL, error_message = NULL WHERE id = $1`, [id]);
    await worker.stop();
    const redrive = await http<{ redriven: number; skipped: string[] }>(`${url}/api/v1/dead-letters/redrive`, { json: { queue } });
    assert.equal(redrive.status, 200);
    assert.deepEqual(redrive.body.skipped, [id]);
    assert.equal(redrive.body.redriven, 0);
    const task = await ctx.store.get(id);
    assert.equal(task?.state, 'SUCCESS');
    assert.equal(task?.result, 7);
    assert.equal((await ctx.deadLetters(queue)).length, 0);
    assert.equal((await ctx.queueDepth(queue)).messages, 0, 'nothing was published');
  });

  it('a re-drive that cannot publish leaves the task in FAILURE and its dead letter in place', async () => {
    const queue = ctx.queue('nopublish');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue] });
    const id = await failedTask(url, queue);
    await worker.stop();
    // The task queue comes back with other arguments: declaring it for the re-drive is refused (406).
    await ctx.deleteQueueOnBroker(queue);
    const connection = await amqp.connect(TEST_AMQP_URL);
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 5 } });
    } finally {
      await connection.close();
    }
    const redrive = await http(`${url}/api/v1/dead-letters/redrive`, { json: { queue } });
    assert.ok(redrive.status >= 500, `status ${redrive.status}`);
    assert.equal((await ctx.store.get(id))?.state, 'FAILURE', 'no PENDING task without a message');
    assert.equal((await ctx.deadLetters(queue)).length, 1);
  });
});
