/** A task moving the gateway's and the worker's counters and histograms, read back from /metrics. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PUBLISHED_AT_HEADER } from '../../shared/src/broker/queue-wait.js';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';
import { metricValue, scrape } from '../helpers/prom.js';

describe('metrics', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a submitted task moves the gateway and worker counters and histograms', async () => {
    const queue = ctx.queue('metrics');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], concurrency: 3, metrics: true });
    const workerMetrics = `http://127.0.0.1:${worker.metricsPort}/metrics`;

    const ok = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=20`, { json: { args: [1, 2], options: { queue } } });
    assert.equal(ok.status, 200);
    const failed = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=20`, { json: { args: ['no'], options: { queue } } });
    assert.equal(failed.body.state, 'FAILURE');

    // `?wait=` answers on the reply; the broker confirms the publish once the worker acked, later.
    const g = await waitFor('both publishes confirmed in the gateway metrics', async () => {
      const samples = await scrape(`${url}/metrics`);
      return metricValue(samples, 'celerity_publish_confirm_duration_seconds_count') === 2 ? samples : undefined;
    });
    assert.equal(metricValue(g, 'celerity_tasks_submitted_total', { task: 'demo.add', queue }), 1);
    assert.equal(metricValue(g, 'celerity_tasks_submitted_total', { task: 'demo.fail', queue }), 1);
    assert.equal(metricValue(g, 'celerity_task_rpc_duration_seconds_count', { task: 'demo.add' }), 1);
    assert.ok((metricValue(g, 'celerity_task_rpc_duration_seconds_sum', { task: 'demo.add' }) ?? 0) > 0);
    assert.equal(metricValue(g, 'celerity_publish_confirm_duration_seconds_count'), 2);
    assert.equal(metricValue(g, 'celerity_rpc_in_flight'), 0);
    assert.equal(
      metricValue(g, 'celerity_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/tasks/:name', status: '200' }),
      2,
      'the route pattern, never the task name or id, is the label',
    );
    assert.ok(!g.some((s) => Object.values(s.labels).includes(ok.body.id)), 'no label carries a task id');

    const w = await waitFor('the worker to count both tasks', async () => {
      const samples = await scrape(workerMetrics);
      return metricValue(samples, 'celerity_worker_tasks_total', { task: 'demo.fail', queue, outcome: 'failure' }) === 1 ? samples : undefined;
    });
    assert.equal(metricValue(w, 'celerity_worker_tasks_total', { task: 'demo.add', queue, outcome: 'success' }), 1);
    assert.equal(metricValue(w, 'celerity_worker_task_duration_seconds_count', { task: 'demo.add', queue }), 1);
    assert.equal(metricValue(w, 'celerity_worker_task_queue_wait_seconds_count', { task: 'demo.add', queue }), 1);
    assert.equal(metricValue(w, 'celerity_worker_task_queue_wait_seconds_count', { task: 'demo.fail', queue }), 1);
    assert.ok((metricValue(w, 'celerity_worker_task_queue_wait_seconds_sum', { task: 'demo.add', queue }) ?? -1) >= 0);
    assert.equal(metricValue(w, 'celerity_worker_concurrency', { queue }), 3);
    assert.equal(metricValue(w, 'celerity_worker_tasks_in_flight', { queue }), 0);
  });

  it('rejected messages and unknown task names count under a fixed label; no publish time means no queue-wait sample', async () => {
    const queue = ctx.queue('rejects');
    await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], metrics: true });
    const headers = (id: string, task: string) => ({ lang: 'py', task, id, retries: 0 });
    // As a Python client sends them: no publish-time header, no eta.
    await ctx.publishRaw(queue, Buffer.from(JSON.stringify([[], {}, {}])), {
      contentType: 'application/json',
      headers: headers('u-1', 'evil.name.with.random.suffix.12345'),
    });
    await ctx.publishRaw(queue, Buffer.from(JSON.stringify([['x', 'y'], {}, {}])), { contentType: 'application/json', headers: headers('u-2', 'demo.add') });
    await ctx.publishRaw(queue, Buffer.from(JSON.stringify([[4, 5], {}, {}])), {
      contentType: 'application/json',
      headers: { ...headers('u-3', 'demo.add'), [PUBLISHED_AT_HEADER]: Date.now() },
    });
    await ctx.publishRaw(queue, Buffer.from(JSON.stringify([[6, 7], {}, {}])), { contentType: 'application/json', headers: headers('u-4', 'demo.add') });
    const url = `http://127.0.0.1:${worker.metricsPort}/metrics`;
    const w = await waitFor('four outcomes', async () => {
      const samples = await scrape(url);
      const total = samples.filter((s) => s.name === 'celerity_worker_tasks_total').reduce((n, s) => n + s.value, 0);
      return total === 4 ? samples : undefined;
    });
    assert.equal(metricValue(w, 'celerity_worker_tasks_total', { task: '(unknown)', queue, outcome: 'rejected' }), 1);
    assert.equal(metricValue(w, 'celerity_worker_tasks_total', { task: 'demo.add', queue, outcome: 'rejected' }), 1);
    assert.equal(metricValue(w, 'celerity_worker_tasks_total', { task: 'demo.add', queue, outcome: 'success' }), 2);
    assert.ok(!w.some((s) => s.labels.task === 'evil.name.with.random.suffix.12345'), 'a name from the wire never becomes a label');
    // Only the stamped message has a publish time.
    assert.equal(metricValue(w, 'celerity_worker_task_queue_wait_seconds_count', { task: 'demo.add', queue }), 1);
  });

  it('queue gauges follow the broker: ready messages and consumers, without the management plugin', async () => {
    const queue = ctx.queue('depth');
    const { url, gateway } = await ctx.startGateway();
    for (let i = 0; i < 3; i++) {
      const res = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [i, i], options: { queue } } });
      assert.equal(res.status, 202);
    }
    await gateway.queueStats.sampleNow();
    assert.deepEqual(
      { messages: gateway.queueStats.get(queue)?.messages, consumers: gateway.queueStats.get(queue)?.consumers },
      { messages: 3, consumers: 0 },
    );
    let g = await scrape(`${url}/metrics`);
    assert.equal(metricValue(g, 'celerity_queue_messages', { queue }), 3);
    assert.equal(metricValue(g, 'celerity_queue_consumers', { queue }), 0);

    await ctx.startWorker({ queues: [queue] });
    await waitFor('the queue to drain and show its consumer', async () => {
      await gateway.queueStats.sampleNow();
      const s = gateway.queueStats.get(queue);
      return s?.messages === 0 && s.consumers === 1;
    });
    g = await scrape(`${url}/metrics`);
    assert.equal(metricValue(g, 'celerity_queue_messages', { queue }), 0);
    assert.equal(metricValue(g, 'celerity_queue_consumers', { queue }), 1);
    assert.ok(gateway.queueStats.history(queue).length >= 2, 'the history keeps each sample');
  });

  it('a queue deleted on the broker drops out of the stats without disturbing the others', async () => {
    const gone = ctx.queue('gone');
    const kept = ctx.queue('kept');
    const { url, gateway } = await ctx.startGateway();
    for (const queue of [gone, kept]) {
      assert.equal((await http(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue } } })).status, 202);
    }
    await gateway.queueStats.sampleNow();
    assert.equal(gateway.queueStats.get(gone)?.messages, 1);
    await ctx.deleteQueueOnBroker(gone);
    await gateway.queueStats.sampleNow();
    assert.equal(gateway.queueStats.get(gone), undefined);
    assert.equal(gateway.queueStats.get(kept)?.messages, 1, 'the queue sampled after the missing one still is');
    const g = await scrape(`${url}/metrics`);
    assert.equal(metricValue(g, 'celerity_queue_messages', { queue: gone }), undefined);
    // The gateway itself is unharmed: it still accepts tasks.
    assert.equal((await http(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue: kept } } })).status, 202);
    assert.equal((await http(`${url}/readyz`)).status, 200);
  });
});
