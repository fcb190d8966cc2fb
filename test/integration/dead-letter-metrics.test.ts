/**
 * Dead letters in the metrics (tasks failed into `<queue>.dead`, read back from /metrics of the
 * gateway and the worker), and every counter and gauge of a fresh gateway and worker present at
 * 0 before any traffic, for the tasks, queues, outcomes and reasons known at start-up.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { PUBLISHED_AT_HEADER } from '../../shared/src/broker/queue-wait.js';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';
import { demoApp } from '../helpers/demo.js';
import { metricValue, scrape, type Sample } from '../helpers/prom.js';

/** Names of the counters and gauges a /metrics text declares (`# TYPE name counter|gauge`). */
async function countersAndGauges(url: string): Promise<string[]> {
  const text = await (await fetch(url)).text();
  return [...text.matchAll(/^# TYPE (celerity_\w+) (counter|gauge)$/gm)].map((m) => m[1] ?? '');
}

/**
 * Gauges whose series are data, not known label values: the busiest flow keys (one series per
 * key in the top 10, none while no key has a task waiting or running).
 */
const SERIES_PER_DATUM = new Set(['celerity_flow_key_tasks']);

function assertEverySeriesPresent(names: string[], samples: Sample[], where: string): void {
  assert.ok(names.length >= 3, `${where}: found ${names.length} counters and gauges`);
  for (const name of names.filter((n) => !SERIES_PER_DATUM.has(n))) assert.ok(samples.some((s) => s.name === name), `${where}: ${name} has no series`);
}

describe('dead-letter metrics, and series at 0 from start-up', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('tasks failed into <queue>.dead show in celerity_dead_letter_messages and celerity_worker_dead_letters_total', async () => {
    const queue = ctx.queue('dead');
    const { url, gateway } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], metrics: true });
    const workerMetrics = `http://127.0.0.1:${worker.metricsPort}/metrics`;

    // The queue exists and has no dead-letter queue yet: its dead letters read 0.
    const ok = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=20`, { json: { args: [1, 2], options: { queue } } });
    assert.equal(ok.body.state, 'SUCCESS');
    await gateway.queueStats.sampleNow();
    assert.equal(metricValue(await scrape(`${url}/metrics`), 'celerity_dead_letter_messages', { queue }), 0);

    for (let i = 0; i < 3; i++) {
      const failed = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=20`, { json: { args: [`no ${i}`], options: { queue } } });
      assert.equal(failed.body.state, 'FAILURE');
    }
    // The counter moves once the dead letter is confirmed, after the reply.
    const w = await waitFor('the worker to count 3 dead letters', async () => {
      const samples = await scrape(workerMetrics);
      return metricValue(samples, 'celerity_worker_dead_letters_total', { task: 'demo.fail', queue, reason: 'failed' }) === 3 ? samples : undefined;
    });
    assert.equal(metricValue(w, 'celerity_worker_dead_letters_total', { task: 'demo.add', queue, reason: 'failed' }), 0);
    assert.equal((await ctx.deadLetters(queue)).length, 3);

    // A dead-letter queue found missing is looked at again after a few rounds, not every round.
    const g = await waitFor('the gateway to sample 3 dead letters', async () => {
      await gateway.queueStats.sampleNow();
      const samples = await scrape(`${url}/metrics`);
      return metricValue(samples, 'celerity_dead_letter_messages', { queue }) === 3 ? samples : undefined;
    });
    assert.equal(metricValue(g, 'celerity_dead_letter_messages', { queue: `${queue}.dead` }), undefined, 'one series per task queue');
    assert.equal(metricValue(g, 'celerity_queue_messages', { queue }), 0, 'dead letters are not ready messages of the queue');

    // Re-driven, they leave the dead-letter queue (and fail into it again, as demo.fail does).
    const redrive = await http<{ redriven: number }>(`${url}/api/v1/dead-letters/redrive`, { json: { queue } });
    assert.equal(redrive.status, 200);
    await waitFor('the re-driven letters to fail again', async () => {
      const samples = await scrape(workerMetrics);
      return metricValue(samples, 'celerity_worker_dead_letters_total', { task: 'demo.fail', queue, reason: 'failed' }) === 6;
    });
  });

  it('a re-driven dead letter\'s queue wait counts from the re-drive, not from its first publish', async () => {
    const queue = ctx.queue('rewait');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], metrics: true });
    const workerMetrics = `http://127.0.0.1:${worker.metricsPort}/metrics`;
    // Published an hour ago (as if it waited that long): its first run waited an hour.
    const id = randomUUID();
    const message = encodeTaskMessage(newTaskMessage({ id, name: 'demo.fail', args: ['late'], kwargs: {} }));
    const headers = { ...message.options.headers, [PUBLISHED_AT_HEADER]: Date.now() - 3_600_000 };
    await ctx.publishRaw(queue, message.content, { ...message.options, headers });
    const wait = { task: 'demo.fail', queue };
    const first = await waitFor('the first run to be dead-lettered', async () => {
      const samples = await scrape(workerMetrics);
      return metricValue(samples, 'celerity_worker_dead_letters_total', { ...wait, reason: 'failed' }) === 1 ? samples : undefined;
    });
    assert.equal(metricValue(first, 'celerity_worker_task_queue_wait_seconds_bucket', { ...wait, le: '60' }), 0);
    assert.equal(metricValue(first, 'celerity_worker_task_queue_wait_seconds_bucket', { ...wait, le: '3600' }), 0);
    assert.equal(metricValue(first, 'celerity_worker_task_queue_wait_seconds_count', wait), 1);

    assert.equal((await http<{ redriven: number }>(`${url}/api/v1/dead-letters/redrive`, { json: { queue } })).body.redriven, 1);
    const second = await waitFor('the re-driven run to be dead-lettered again', async () => {
      const samples = await scrape(workerMetrics);
      return metricValue(samples, 'celerity_worker_dead_letters_total', { ...wait, reason: 'failed' }) === 2 ? samples : undefined;
    });
    assert.equal(metricValue(second, 'celerity_worker_task_queue_wait_seconds_count', wait), 2);
    assert.equal(metricValue(second, 'celerity_worker_task_queue_wait_seconds_bucket', { ...wait, le: '60' }), 1, 'the re-driven run waited seconds, not an hour');
  });

  it('a fresh worker and gateway serve every counter and gauge, at 0 for the known tasks, queues, outcomes and reasons', async () => {
    const queue = ctx.queue('fresh');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], concurrency: 4, metrics: true });
    const workerMetrics = `http://127.0.0.1:${worker.metricsPort}/metrics`;
    const tasks = (await demoApp()).tasks.map((t) => t.name);
    assert.ok(tasks.includes('demo.fail'));

    const w = await waitFor('the worker to consume', async () => {
      const samples = await scrape(workerMetrics);
      return metricValue(samples, 'celerity_worker_consuming') === 1 ? samples : undefined;
    });
    assertEverySeriesPresent(await countersAndGauges(workerMetrics), w, 'worker');
    for (const task of tasks) {
      for (const outcome of ['success', 'failure', 'retry', 'rejected']) {
        assert.equal(metricValue(w, 'celerity_worker_tasks_total', { task, queue, outcome }), 0, `${task} ${outcome}`);
      }
      for (const reason of ['failed', 'delivery-limit', 'malformed', 'unknown-task', 'invalid-arguments']) {
        assert.equal(metricValue(w, 'celerity_worker_dead_letters_total', { task, queue, reason }), 0, `${task} ${reason}`);
      }
    }
    for (const reason of ['disconnected', 'backpressure', 'error']) {
      assert.equal(metricValue(w, 'celerity_worker_events_dropped_total', { reason }), 0, reason);
    }
    assert.equal(metricValue(w, 'celerity_worker_tasks_in_flight', { queue }), 0);
    assert.equal(metricValue(w, 'celerity_worker_concurrency', { queue }), 4);

    const g = await scrape(`${url}/metrics`);
    assertEverySeriesPresent(await countersAndGauges(`${url}/metrics`), g, 'gateway');
    for (const task of tasks) assert.equal(metricValue(g, 'celerity_tasks_submitted_total', { task, queue: 'demo' }), 0, task);
    assert.equal(metricValue(g, 'celerity_rpc_in_flight'), 0);
  });
});
