/** Worker and task events on Celery's event exchange, and the gateway's view of the workers. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { EVENT_EXCHANGE } from '../../shared/src/broker/events.js';
import { TEST_AMQP_URL, TestContext, http, waitFor, type Task } from '../helpers/harness.js';

interface WorkerJson {
  hostname: string;
  status: string;
  active: number;
  concurrency: number;
  queues: string[];
  processed: number;
  lastHeartbeat: number;
}

/** An independent listener on celeryev, as `celery events` would bind one: every event it sees. */
async function listenToEvents(): Promise<{ connection: amqp.ChannelModel; received: Record<string, unknown>[] }> {
  const connection = await amqp.connect(TEST_AMQP_URL);
  const received: Record<string, unknown>[] = [];
  const channel = await connection.createChannel();
  await channel.assertExchange(EVENT_EXCHANGE, 'topic', { durable: true });
  const { queue: listen } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(listen, EVENT_EXCHANGE, '#');
  await channel.consume(listen, (m) => {
    if (!m) return;
    const body = JSON.parse(m.content.toString()) as Record<string, unknown>;
    received.push({ ...body, routingKey: m.fields.routingKey, headers: m.properties.headers });
  }, { noAck: true });
  return { connection, received };
}

describe('events', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a worker publishes Celery-style task events that a second consumer on celeryev receives', async () => {
    const queue = ctx.queue('events');
    const { connection, received } = await listenToEvents();
    try {

      const { url } = await ctx.startGateway();
      const worker = await ctx.startWorker({ queues: [queue], concurrency: 4 });
      const done = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=20`, { json: { args: [20, 22], options: { queue } } });
      assert.equal(done.body.state, 'SUCCESS');
      const events = await waitFor('received, started and succeeded events', () => {
        const mine = received.filter((e) => e.uuid === done.body.id);
        return mine.length >= 3 ? mine : undefined;
      });
      assert.deepEqual(events.map((e) => e.type), ['task-received', 'task-started', 'task-succeeded']);
      assert.deepEqual(events.map((e) => e.routingKey), ['task.received', 'task.started', 'task.succeeded']);
      const [rec, , ok] = events;
      for (const e of events) {
        assert.equal(e.hostname, worker.name);
        assert.equal(typeof e.timestamp, 'number');
        assert.equal(typeof e.utcoffset, 'number');
        assert.equal(typeof e.pid, 'number');
        assert.equal(typeof e.clock, 'number');
        assert.deepEqual(e.headers, { hostname: worker.name });
      }
      assert.equal(rec?.name, 'demo.add');
      assert.equal(rec?.args, '[20,22]');
      assert.equal(rec?.queue, queue);
      assert.equal(ok?.result, '42');
      assert.equal(typeof ok?.runtime, 'number');
      const online = received.find((e) => e.type === 'worker-online' && e.hostname === worker.name);
      assert.ok(online, 'worker-online was announced');
      assert.equal(online.concurrency, 4);
      assert.deepEqual(online.queues, [queue]);
      assert.equal(online.sw_ident, 'celerity');
      assert.equal(typeof online.freq, 'number');

      const failed = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=20`, { json: { args: ['bad'], options: { queue } } });
      const failure = await waitFor('task-failed', () => received.find((e) => e.uuid === failed.body.id && e.type === 'task-failed'));
      assert.equal(failure.exception, 'PermanentError("bad")');
      assert.deepEqual(failure.error, { type: 'PermanentError', message: 'bad' });

      await worker.stop();
      await waitFor('worker-offline', () => received.find((e) => e.type === 'worker-offline' && e.hostname === worker.name));
    } finally {
      await connection.close();
    }
  });

  it('the gateway shows workers online with in-flight against concurrency, and offline after they stop', async () => {
    const queue = ctx.queue('watch');
    const { url, gateway } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], concurrency: 2 });
    const mine = async (): Promise<WorkerJson | undefined> => {
      const { body } = await http<{ workers: WorkerJson[] }>(`${url}/api/v1/workers`);
      return body.workers.find((w) => w.hostname === worker.name);
    };
    const seen = await waitFor('the worker online', async () => {
      const w = await mine();
      return w?.status === 'online' ? w : undefined;
    });
    assert.equal(seen.concurrency, 2);
    assert.deepEqual(seen.queues, [queue]);
    // Two sleeping tasks fill the worker; its next heartbeat says so.
    for (let i = 0; i < 2; i++) await http(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [3], options: { queue } } });
    const busy = await waitFor('a heartbeat with 2 in flight', async () => {
      const w = await mine();
      return w?.active === 2 ? w : undefined;
    }, { timeoutMs: 20_000 });
    assert.equal(busy.status, 'online');
    await worker.stop();
    const gone = await waitFor('the worker offline', async () => {
      const w = await mine();
      return w?.status === 'offline' ? w : undefined;
    });
    assert.equal(gone.processed, 2, 'worker-offline reports what it processed');
    assert.ok(gateway.workerMonitor.counts(queue).finished >= 2, 'task events counted per queue');
    const metrics = await http<string>(`${url}/metrics`);
    assert.match(metrics.body, /celerity_workers\{status="offline",service="gateway"\} [1-9]/);
  });

  it('without task events (the default, as Celery without -E) a worker still sends heartbeats but no task events', async () => {
    const queue = ctx.queue('quiet');
    const { connection, received } = await listenToEvents();
    try {
      const { url } = await ctx.startGateway();
      const worker = await ctx.startWorker({ queues: [queue], taskEvents: false });
      const done = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=20`, { json: { args: [1, 2], options: { queue } } });
      assert.equal(done.body.state, 'SUCCESS');
      // A heartbeat after the task counts it as processed: the worker is visible, the task is not announced.
      await waitFor('a heartbeat counting the task', () =>
        received.some((e) => e.type === 'worker-heartbeat' && e.hostname === worker.name && e.processed === 1),
      );
      assert.deepEqual(received.filter((e) => e.hostname === worker.name && String(e.type).startsWith('task-')), []);
    } finally {
      await connection.close();
    }
  });
});
