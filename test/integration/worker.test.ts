/** Worker behaviour on the real broker: foreign and bad messages, redelivery, graceful stop, deleted queues. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { TestContext, http, waitFor, waitForState, type Task } from '../helpers/harness.js';

describe('worker', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('an unknown task name is recorded as FAILURE and dead-lettered', async () => {
    const queue = ctx.queue('unknown');
    await ctx.startWorker({ queues: [queue] });
    const id = randomUUID();
    const message = encodeTaskMessage(newTaskMessage({ id, name: 'nobody.knows', args: [], kwargs: {} }));
    await ctx.publishRaw(queue, message.content, message.options);
    const task = await waitFor('the unknown task to be recorded', async () => {
      const t = await ctx.store.get(id);
      return t?.state === 'FAILURE' ? t : undefined;
    });
    assert.equal(task.error?.type, 'UnknownTaskError');
    assert.match(task.error?.message ?? '', /nobody\.knows/);
    await waitFor('the queue to be empty', async () => (await ctx.queueDepth(queue)).messages === 0);
    const letters = await waitFor('the dead letter', async () => {
      const l = await ctx.deadLetters(queue);
      return l.length === 1 ? l : undefined;
    });
    assert.equal(letters[0]?.id, id);
    assert.equal(letters[0]?.reason, 'unknown-task');
  });

  it('arguments that fail the schema on the worker side are a FAILURE, not a crash', async () => {
    const queue = ctx.queue('badargs');
    await ctx.startWorker({ queues: [queue] });
    const id = randomUUID();
    const message = encodeTaskMessage(newTaskMessage({ id, name: 'demo.add', args: ['x'], kwargs: {} }));
    await ctx.publishRaw(queue, message.content, message.options);
    const task = await waitFor('the FAILURE', async () => {
      const t = await ctx.store.get(id);
      return t?.state === 'FAILURE' ? t : undefined;
    });
    assert.equal(task.error?.type, 'InvalidArgumentsError');
    await waitFor('the dead letter', async () => (await ctx.deadLetters(queue))[0]?.reason === 'invalid-arguments');
  });

  it('garbage on the queue is recorded where possible and dead-lettered, and the worker keeps serving', async () => {
    const queue = ctx.queue('garbage');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const garbageId = randomUUID();
    await ctx.publishRaw(queue, Buffer.from('not json at all'), { headers: { task: 'demo.add', id: garbageId }, contentType: 'application/json' });
    await ctx.publishRaw(queue, Buffer.from('{}'), {});
    await ctx.publishRaw(queue, Buffer.from('<xml/>'), { headers: { task: 'demo.add', id: randomUUID() }, contentType: 'application/xml' });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [40, 2], options: { queue } } });
    assert.equal(res.status, 200);
    assert.equal(res.body.result, 42);
    await waitFor('the queue to be empty', async () => (await ctx.queueDepth(queue)).messages === 0);
    const letters = await waitFor('three dead letters', async () => {
      const l = await ctx.deadLetters(queue);
      return l.length === 3 ? l : undefined;
    });
    assert.deepEqual(letters.map((l) => l.reason), ['malformed', 'malformed', 'malformed']);
    assert.equal((await ctx.store.get(garbageId))?.error?.type, 'MalformedMessageError', 'recorded, since it named its task and id');
  });

  it('a redelivered message whose task already finished is acked without running again', async () => {
    const queue = ctx.queue('redeliver');
    const id = randomUUID();
    // The store already has the result: as if a worker recorded it and died before its ack.
    await ctx.store.record({ id, name: 'demo.add', queue, state: 'SUCCESS', args: [1, 2], kwargs: {}, result: 3, worker: 'earlier', finishedAt: new Date() });
    const message = encodeTaskMessage(newTaskMessage({ id, name: 'demo.add', args: [1, 2], kwargs: {} }));
    await ctx.publishRaw(queue, message.content, message.options);
    // A worker takes it and dies (stop with 0 grace requeues it, so the next delivery is a redelivery).
    const first = await ctx.startWorker({ queues: [queue], concurrency: 1 });
    await first.stop(0);
    const second = await ctx.startWorker({ queues: [queue], metrics: true });
    await waitFor('the queue to be empty', async () => (await ctx.queueDepth(queue)).messages === 0);
    const task = await ctx.store.get(id);
    assert.equal(task?.worker, 'earlier', 'the stored result was left alone');
    const text = (await http<string>(`http://127.0.0.1:${second.metricsPort}/metrics`)).body;
    // Every task's success series is there from start-up, at 0: none may have counted one.
    assert.match(text, /celerity_worker_tasks_total\{[^}]*task="demo.add"[^}]*outcome="success"[^}]*\} 0\n/);
    assert.doesNotMatch(text, /celerity_worker_tasks_total\{[^}]*outcome="success"[^}]*\} [1-9]/, 'the task did not run again');
  });

  it('a graceful stop lets in-flight tasks finish and acks them', async () => {
    const queue = ctx.queue('drain');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], concurrency: 4, graceMs: 10_000 });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await http<Task>(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [0.5], options: { queue } } });
      ids.push(r.body.id);
    }
    await waitFor('4 tasks in flight', () => worker.inFlight === 4);
    await worker.stop();
    assert.equal(worker.state, 'STOPPED');
    for (const id of ids) assert.equal((await ctx.store.get(id))?.state, 'SUCCESS');
    assert.equal((await ctx.queueDepth(queue)).messages, 0);
  });

  it('a stop past its grace period requeues unfinished tasks; another worker completes them', async () => {
    const queue = ctx.queue('requeue');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], concurrency: 2 });
    const r = await http<Task>(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [30], options: { queue } } });
    await waitFor('the task to start', () => worker.inFlight === 1);
    await worker.stop(100);
    assert.equal((await ctx.queueDepth(queue)).messages, 1, 'the unfinished task is back in the queue');
    // The interruption is not the task's failure: nothing final was recorded.
    assert.equal((await ctx.store.get(r.body.id))?.state, 'STARTED');
    const next = await ctx.startWorker({ queues: [queue] });
    await waitFor('the task to be taken again', () => next.inFlight === 1);
    assert.equal((await ctx.queueDepth(queue)).messages, 0);
  });

  it('a queue deleted under a consuming worker: the worker declares it again and goes on consuming', async () => {
    const queue = ctx.queue('cancelled');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    await waitFor('the consumer', async () => (await ctx.queueDepth(queue)).consumers === 1);
    await ctx.deleteQueueOnBroker(queue);
    // The broker cancels the consumer; the worker reopens its channel, redeclares and consumes.
    await waitFor('the worker to consume the queue again', async () => (await ctx.queueDepth(queue)).consumers === 1);
    const res = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [5, 5], options: { queue } } });
    assert.equal(res.status, 200);
    assert.equal(res.body.result, 10);
  });

  it('a queue deleted behind the gateway’s back: 503 QUEUE_UNAVAILABLE, then the next submit declares it again', async () => {
    const queue = ctx.queue('deleted');
    const { url } = await ctx.startGateway();
    const first = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue } } });
    assert.equal(first.status, 202);
    await ctx.deleteQueueOnBroker(queue);
    const lost = await http<{ error: { code: string } }>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue } } });
    assert.equal(lost.status, 503);
    assert.equal(lost.body.error.code, 'QUEUE_UNAVAILABLE');
    assert.ok(lost.headers.get('retry-after'));
    const again = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue } } });
    assert.equal(again.status, 202);
    await ctx.startWorker({ queues: [queue] });
    await waitForState(url, again.body.id, ['SUCCESS']);
  });
});
