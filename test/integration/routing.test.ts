/** Workers consume only their queues; CPU-bound tasks do not hold up the others; many waits don't block the gateway. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestContext, http, waitFor, waitForState, type Task } from '../helpers/harness.js';

describe('routing and concurrency', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a worker on -Q a never receives queue b’s tasks', async () => {
    const a = ctx.queue('a');
    const b = ctx.queue('b');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [a] });
    const onB = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue: b } } });
    const onA = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [2, 2], options: { queue: a } } });
    assert.equal(onB.status, 202);
    const doneA = await waitForState(url, onA.body.id, ['SUCCESS']);
    assert.equal(doneA.worker, worker.name);
    // b's task is still waiting in b, untouched, with no consumer.
    assert.deepEqual(await ctx.queueDepth(b), { exists: true, messages: 1, consumers: 0 });
    assert.equal((await ctx.store.get(onB.body.id))?.state, 'PENDING');
    // A worker for both queues drains b.
    await ctx.startWorker({ queues: [a, b] });
    await waitForState(url, onB.body.id, ['SUCCESS']);
  });

  it('a worker consumes several queues with one concurrency limit', async () => {
    const x = ctx.queue('x');
    const y = ctx.queue('y');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [x, y], concurrency: 4 });
    const [rx, ry] = await Promise.all([
      http<Task>(`${url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [1, 2], options: { queue: x } } }),
      http<Task>(`${url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [3, 4], options: { queue: y } } }),
    ]);
    assert.equal(rx.body.result, 3);
    assert.equal(ry.body.result, 7);
  });

  it('a CPU-bound task does not stall the worker’s other tasks', async () => {
    const queue = ctx.queue('cpu');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue], concurrency: 4, cpuThreads: 1 });
    // fib(38) keeps a thread busy for a good while; the event loop must stay free meanwhile.
    const heavy = await http<Task>(`${url}/api/v1/tasks/demo.fib`, { json: { args: [38], options: { queue } } });
    await waitForState(url, heavy.body.id, ['STARTED']);
    const quick: Task[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=20`, { json: { args: [i, 1], options: { queue } } });
      assert.equal(r.status, 200);
      quick.push(r.body);
    }
    // All five quick tasks finished while the CPU-bound one was still running.
    const heavyNow = await ctx.store.get(heavy.body.id);
    assert.equal(heavyNow?.state, 'STARTED', 'the quick tasks should finish before fib(38) does');
    for (const q of quick) assert.ok(Date.parse(q.finishedAt ?? '') > Date.parse(heavyNow.startedAt?.toISOString() ?? ''));
    const done = await waitForState(url, heavy.body.id, ['SUCCESS']);
    assert.equal(done.result, 39088169);
  });

  it('200 ?wait= requests on demo.sleep are held while /healthz keeps answering', async () => {
    const queue = ctx.queue('sleep');
    const { url, gateway } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue], concurrency: 200 });
    let finished = 0;
    const waits = Array.from({ length: 200 }, () =>
      // Long enough that all 200 are in flight before the first finishes, even on a loaded machine.
      http<Task>(`${url}/api/v1/tasks/demo.sleep?wait=60`, { json: { args: [6], options: { queue } } }).then((r) => {
        finished++;
        return r;
      }),
    );
    // Wait until every request is being held by the gateway…
    await waitFor('200 requests in flight', async () => {
      const text = (await http<string>(`${url}/metrics`)).body;
      return /celerity_rpc_in_flight\{service="gateway"\} 200\b/.test(text);
    });
    // …then the gateway must still answer health checks while all of them are waiting.
    for (let i = 0; i < 10; i++) {
      const health = await http(`${url}/healthz`);
      assert.equal(health.status, 200);
    }
    assert.equal(finished, 0, 'the health checks were answered while every wait was still in flight');
    assert.equal(gateway.state, 'RUNNING');
    const results = await Promise.all(waits);
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.body.state, 'SUCCESS');
    }
  });
});
