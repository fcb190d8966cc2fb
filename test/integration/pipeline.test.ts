/** The whole pipeline against the real RabbitMQ and PostgreSQL: gateway → broker → worker → store → reply. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestContext, http, waitFor, waitForState, type Task } from '../helpers/harness.js';

describe('pipeline', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('submit answers 202 with a Location, and GET follows the task to SUCCESS', async () => {
    const queue = ctx.queue('main');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [2, 3], options: { queue } } });
    assert.equal(res.status, 202);
    assert.equal(res.body.state, 'PENDING');
    assert.equal(res.body.name, 'demo.add');
    assert.equal(res.body.queue, queue);
    assert.equal(res.headers.get('location'), `/api/v1/tasks/${res.body.id}`);
    const done = await waitForState(url, res.body.id, ['SUCCESS']);
    assert.equal(done.result, 5);
    assert.deepEqual(done.args, [2, 3]);
    assert.ok(done.startedAt && done.finishedAt && done.worker, 'the worker records its timings and name');
    assert.ok(Date.parse(done.finishedAt) >= Date.parse(done.createdAt));
  });

  it('?wait= returns the finished task with 200', async () => {
    const queue = ctx.queue('rpc');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.echo?wait=10`, {
      json: { args: ['héllo', { nested: [1, { deep: true }] }], kwargs: { k: 'v' }, options: { queue } },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'SUCCESS');
    assert.deepEqual(res.body.result, { args: ['héllo', { nested: [1, { deep: true }] }], kwargs: { k: 'v' } });
    // The store agrees with the reply (the worker commits just after replying).
    const stored = await ctx.finalRow(res.body.id);
    assert.equal(stored?.state, 'SUCCESS');
    assert.deepEqual(stored?.result, res.body.result);
  });

  it('demo.fail ends in FAILURE with its message, by ?wait= and by GET', async () => {
    const queue = ctx.queue('fail');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=10`, { json: { args: ['it broke'], options: { queue } } });
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'FAILURE');
    assert.equal(res.body.error?.message, 'it broke');
    const got = await http<Task>(`${url}/api/v1/tasks/${res.body.id}`);
    assert.equal(got.body.state, 'FAILURE');
    assert.equal(got.body.error?.message, 'it broke');
    assert.equal(got.body.retries, 0);
    // Acked, not redelivered forever.
    await waitFor('the queue to be empty', async () => (await ctx.queueDepth(queue)).messages === 0);
  });

  it('GET ?wait= long-polls until the task finishes', async () => {
    const queue = ctx.queue('poll');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const submitted = await http<Task>(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [0.3], options: { queue } } });
    assert.equal(submitted.status, 202);
    const polled = await http<Task>(`${url}/api/v1/tasks/${submitted.body.id}?wait=10`);
    assert.equal(polled.status, 200);
    assert.equal(polled.body.state, 'SUCCESS');
    assert.equal(polled.body.result, 0.3);
  });

  it('?wait= with no worker answers 202 when the time is up, and the task stays queued', async () => {
    const queue = ctx.queue('idle');
    const { url, gateway } = await ctx.startGateway();
    const res = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=0.3`, { json: { args: [1, 1], options: { queue } } });
    assert.equal(res.status, 202);
    assert.equal(res.body.state, 'PENDING');
    assert.equal((await ctx.queueDepth(queue)).messages, 1);
    const stored = await ctx.store.get(res.body.id);
    assert.equal(stored?.state, 'PENDING');
    // The waiter was released, not leaked.
    const metrics = await http<string>(`${url}/metrics`);
    assert.match(metrics.body, /celerity_rpc_in_flight\{service="gateway"\} 0/);
    assert.equal(gateway.state, 'RUNNING');
    // A worker started later picks it up: nothing accepted is lost.
    await ctx.startWorker({ queues: [queue] });
    await waitForState(url, res.body.id, ['SUCCESS']);
  });

  it('a CPU-bound task runs in the thread pool: demo.fib(25) = 75025', async () => {
    const queue = ctx.queue('fib');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.fib?wait=20`, { json: { args: [25], options: { queue } } });
    assert.equal(res.status, 200);
    assert.equal(res.body.result, 75025);
  });

  it('readyz reports both dependencies up; healthz answers', async () => {
    const { url } = await ctx.startGateway();
    const ready = await http(`${url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', broker: 'up', database: 'up' });
    const health = await http(`${url}/healthz`);
    assert.equal(health.status, 200);
  });

  it('/metrics exposes HTTP and submit metrics with bounded labels (route pattern, never a task id)', async () => {
    const queue = ctx.queue('metrics');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], metrics: true });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [1, 2], options: { queue } } });
    assert.equal(res.status, 200);
    await http(`${url}/api/v1/tasks/${res.body.id}`);
    // `?wait=` answers on the reply, which the worker sends before its commit and its ack, and
    // the broker confirms the publish after the ack: read the metrics once both have settled.
    const confirmed = /celerity_publish_confirm_duration_seconds_count\{service="gateway"\} 1/;
    const text = await waitFor('the publish confirm in the gateway metrics', async () => {
      const body = (await http<string>(`${url}/metrics`)).body;
      return confirmed.test(body) && body;
    });
    assert.match(text, /celerity_http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/tasks\/:name"[^}]*status="200"/);
    assert.match(text, /celerity_http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/tasks\/:id"/);
    assert.match(text, new RegExp(`celerity_tasks_submitted_total\\{[^}]*task="demo.add",queue="${queue.replace(/\./g, '\\.')}"[^}]*\\} 1`));
    assert.match(text, /celerity_publish_confirm_duration_seconds_count\{service="gateway"\} 1/);
    assert.match(text, /celerity_task_rpc_duration_seconds_count\{[^}]*task="demo.add"[^}]*\} 1/);
    assert.ok(!text.includes(res.body.id), 'no task id in any label');
    // The series exists at 0 from start-up: wait for the count, not for the series.
    const counted = new RegExp(`celerity_worker_tasks_total\\{[^}]*task="demo.add"[^}]*outcome="success"[^}]*\\} 1`);
    const workerText = await waitFor('the finished task in the worker metrics', async () => {
      const body = (await http<string>(`http://127.0.0.1:${worker.metricsPort}/metrics`)).body;
      return counted.test(body) && body;
    });
    assert.match(workerText, new RegExp(`celerity_worker_tasks_total\\{[^}]*task="demo.add"[^}]*outcome="success"[^}]*\\} 1`));
    const workerHealth = await http(`http://127.0.0.1:${worker.metricsPort}/healthz`);
    assert.equal(workerHealth.status, 200);
  });
});
