/**
 * The worker's reply waits for the task's first row: after a `?wait=` answer from one gateway
 * (which writes no PENDING row for a waited submit), any other gateway finds the task at once,
 * in that state or an earlier one, never 404.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestContext, http, type Task } from '../helpers/harness.js';

describe('reply order', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a ?wait= 200 on one gateway, then a GET on another: the task is there every time (50 runs)', async () => {
    const queue = ctx.queue('order');
    const one = await ctx.startGateway();
    const two = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const seen: string[] = [];
    for (let i = 0; i < 50; i++) {
      const waited = await http<Task>(`${one.url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [i, 1], options: { queue } } });
      assert.deepEqual([waited.status, waited.body.state, waited.body.result], [200, 'SUCCESS', i + 1]);
      const read = await http<Task>(`${two.url}/api/v1/tasks/${waited.body.id}`);
      seen.push(read.status === 200 ? read.body.state : String(read.status));
    }
    assert.deepEqual(seen.filter((state) => state !== 'STARTED' && state !== 'SUCCESS'), [], 'never 404, never anything but STARTED or SUCCESS');
  });
});
