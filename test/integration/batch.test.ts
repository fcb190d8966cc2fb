/** Batch submit (`POST /api/v1/tasks`) against the real RabbitMQ and PostgreSQL. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestContext, http, waitForState, type Task } from '../helpers/harness.js';

interface BatchBody {
  tasks: Task[];
}
interface ErrorBody {
  error: { code: string; message: string };
}

describe('batch submit', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('answers 202 with every task id in order, and each task runs with its own arguments', async () => {
    const queue = ctx.queue('batch');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const tasks = Array.from({ length: 25 }, (_, i) => ({ name: 'demo.add', args: [i, 1000], options: { queue } }));
    const res = await http<BatchBody>(`${url}/api/v1/tasks`, { json: { tasks } });
    assert.equal(res.status, 202);
    assert.equal(res.body.tasks.length, 25);
    assert.equal(new Set(res.body.tasks.map((t) => t.id)).size, 25, 'every task has its own id');
    for (const [i, task] of res.body.tasks.entries()) {
      assert.equal(task.state, 'PENDING');
      assert.equal(task.name, 'demo.add');
      assert.equal(task.queue, queue);
      assert.deepEqual(task.args, [i, 1000]);
    }
    for (const [i, task] of res.body.tasks.entries()) {
      const done = await waitForState(url, task.id, ['SUCCESS']);
      assert.equal(done.result, i + 1000, `task ${i} ran with its own arguments`);
    }
  });

  it('refuses the whole batch with 400 naming the failing index, and publishes nothing', async () => {
    const queue = ctx.queue('atomic');
    const { url } = await ctx.startGateway();
    // One task already waits on the queue (no worker), so the queue exists and has a known depth.
    const first = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue } } });
    assert.equal(first.status, 202);
    assert.equal((await ctx.queueDepth(queue)).messages, 1);

    const res = await http<ErrorBody>(`${url}/api/v1/tasks`, {
      json: {
        tasks: [
          { name: 'demo.add', args: [1, 2], options: { queue } },
          { name: 'demo.add', args: [3, 4], options: { queue } },
          { name: 'demo.add', args: ['not', 'numbers'], options: { queue } },
          { name: 'demo.add', args: [5, 6], options: { queue } },
        ],
      },
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'INVALID_REQUEST');
    assert.match(res.body.error.message, /^tasks\[2\]: /);
    assert.match(res.body.error.message, /INVALID_ARGUMENTS/);

    const unknown = await http<ErrorBody>(`${url}/api/v1/tasks`, {
      json: { tasks: [{ name: 'demo.add', args: [1, 2], options: { queue } }, { name: 'no.such.task', options: { queue } }] },
    });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error.message, /^tasks\[1\]: Unknown task "no\.such\.task"/);

    const extraField = await http<ErrorBody>(`${url}/api/v1/tasks`, { json: { tasks: [{ name: 'demo.add', args: [1, 2], bogus: 1 }] } });
    assert.equal(extraField.status, 400);
    assert.match(extraField.body.error.message, /^tasks\[0\]: /);

    for (const body of [{}, { tasks: [] }, { tasks: 'demo.add' }, { tasks: [42] }, { tasks: [{ name: 'demo.add' }], more: true }]) {
      const bad = await http<ErrorBody>(`${url}/api/v1/tasks`, { json: body });
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.equal(bad.body.error.code, 'INVALID_REQUEST');
    }

    assert.equal((await ctx.queueDepth(queue)).messages, 1, 'nothing from the refused batches reached the queue');
    const { rows } = await ctx.pool.query<{ n: string }>('SELECT count(*) AS n FROM tasks');
    assert.equal(Number(rows[0]?.n), 1, 'no PENDING rows were written for the refused batches');
  });

  it('refuses a batch over the maximum with 413 and publishes nothing', async () => {
    const queue = ctx.queue('big');
    const { url } = await ctx.startGateway();
    const tasks = Array.from({ length: 1001 }, () => ({ name: 'demo.add', args: [1, 2], options: { queue } }));
    const res = await http<ErrorBody>(`${url}/api/v1/tasks`, { json: { tasks } });
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, 'PAYLOAD_TOO_LARGE');
    assert.match(res.body.error.message, /at most 1000/);
    const depth = await ctx.queueDepth(queue);
    assert.equal(depth.messages, 0);
    const { rows } = await ctx.pool.query<{ n: string }>('SELECT count(*) AS n FROM tasks');
    assert.equal(Number(rows[0]?.n), 0);
    // The maximum itself is accepted.
    const full = await http<BatchBody>(`${url}/api/v1/tasks`, { json: { tasks: tasks.slice(0, 1000) } });
    assert.equal(full.status, 202);
    assert.equal(full.body.tasks.length, 1000);
    assert.equal((await ctx.queueDepth(queue)).messages, 1000);
  });

  it('routes each item to its own queue in a mixed batch', async () => {
    const a = ctx.queue('mixA');
    const b = ctx.queue('mixB');
    const { url } = await ctx.startGateway();
    const tasks = Array.from({ length: 10 }, (_, i) => ({ name: 'demo.echo', args: [i], options: { queue: i % 2 === 0 ? a : b } }));
    // Without a worker first: the messages sit on their queues, 5 each.
    const res = await http<BatchBody>(`${url}/api/v1/tasks`, { json: { tasks } });
    assert.equal(res.status, 202);
    assert.deepEqual(
      res.body.tasks.map((t) => t.queue),
      tasks.map((t) => t.options.queue),
    );
    assert.equal((await ctx.queueDepth(a)).messages, 5);
    assert.equal((await ctx.queueDepth(b)).messages, 5);
    await ctx.startWorker({ queues: [a, b] });
    for (const [i, task] of res.body.tasks.entries()) {
      const done = await waitForState(url, task.id, ['SUCCESS']);
      assert.deepEqual(done.result, { args: [i], kwargs: {} });
      assert.equal(done.queue, i % 2 === 0 ? a : b);
    }
  });
});
