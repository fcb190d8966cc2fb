/** Log levels people read (issue 21, item 7): a retry at info, a task failure at warn, its dead letter at error. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { TestContext, captureLogger, waitFor } from '../helpers/harness.js';

describe('worker log levels', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a retry is info, a failure warn, a dead letter error', async () => {
    const queue = ctx.queue('levels');
    const { logger, capture } = captureLogger('worker');
    await ctx.startWorker({ queues: [queue], logger });
    const flaky = randomUUID();
    const failing = randomUUID();
    for (const message of [
      newTaskMessage({ id: flaky, name: 'demo.flaky', args: [1], kwargs: {} }),
      newTaskMessage({ id: failing, name: 'demo.fail', args: ['out of paper'], kwargs: {} }),
    ]) {
      const encoded = encodeTaskMessage(message);
      await ctx.publishRaw(queue, encoded.content, encoded.options);
    }
    await ctx.finalRow(flaky);
    await ctx.finalRow(failing);
    const levelOf = (taskId: string, message: string): unknown =>
      waitFor(`"${message}" logged for ${taskId}`, () => capture.entries.find((e) => e.taskId === taskId && e.message === message)?.level);
    assert.equal(await levelOf(flaky, 'task failed; retrying'), 'info');
    assert.equal(await levelOf(failing, 'task failed'), 'warn');
    assert.equal(await levelOf(failing, 'message dead-lettered'), 'error');
  });
});
