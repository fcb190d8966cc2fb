/** Limits from foreign messages and options that once overflowed: time limits, expires. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { TestContext, http, waitFor } from '../helpers/harness.js';

describe('limits', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a Celery timelimit over 24.8 days does not overflow the timer: the task runs to SUCCESS', async () => {
    const queue = ctx.queue('timelimit');
    await ctx.startWorker({ queues: [queue] });
    const id = randomUUID();
    const task = newTaskMessage({ id, name: 'demo.sleep', args: [0.3], kwargs: {} });
    task.timelimit = [30 * 86_400, 30 * 86_400];
    const message = encodeTaskMessage(task);
    await ctx.publishRaw(queue, message.content, message.options);
    const done = await waitFor('the task to finish', async () => {
      const t = await ctx.store.get(id);
      return t && (t.state === 'SUCCESS' || t.state === 'FAILURE') ? t : undefined;
    });
    assert.equal(done.state, 'SUCCESS', JSON.stringify(done.error));
  });

  it('the gateway refuses expires beyond the per-message TTL limit with 400', async () => {
    const { url } = await ctx.startGateway();
    const queue = ctx.queue('expires');
    for (const expires of [60 * 86_400, new Date(Date.now() + 60 * 86_400_000).toISOString()]) {
      const res = await http<{ error: { code: string } }>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue, expires } } });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.error.code, /^INVALID_(OPTIONS|REQUEST)$/);
    }
  });
});
