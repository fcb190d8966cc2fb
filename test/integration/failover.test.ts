/**
 * Broker faults a process meets with a list of nodes in AMQP_URL: a node down at start (it
 * connects to the next and says which), every node down (503s with Retry-After, /readyz 503,
 * nothing hangs, service resumes), and a queue someone else declared with other arguments
 * (a clear error naming the queue and both argument sets, no reconnect loop). The "nodes" are
 * TCP proxies in front of the system broker, which this test can cut without touching it.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import amqp from 'amqplib';
import { QUORUM_DELIVERY_LIMIT } from '../../shared/src/broker/topology.js';
import { QueueMismatchError, declareTaskQueue } from '../../shared/src/broker/apply-topology.js';
import { TaskStore } from '../../shared/src/store/store.js';
import { createPool } from '../../shared/src/store/pool.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { defineTask } from '../../shared/src/app/define-task.js';
import { parseQueueTypes } from '../../shared/src/config/parse.js';
import { createClient } from '../../shared/src/client/client.js';
import { z } from 'zod';
import { FinishedListener } from '../../gateway/src/finished-listener.js';
import { TestContext, TEST_AMQP_URL, TEST_DATABASE_URL, captureLogger, http, waitFor } from '../helpers/harness.js';

/** A TCP proxy to the system broker that can be cut (every socket destroyed, port closed). */
class NodeProxy {
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;

  static async start(port = 0): Promise<NodeProxy> {
    const proxy = new NodeProxy();
    await proxy.open(port);
    return proxy;
  }

  async open(port = this.port): Promise<void> {
    const target = new URL(TEST_AMQP_URL);
    const server = createServer((client) => {
      const upstream = connect(Number(target.port || 5672), target.hostname);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  url(): string {
    const target = new URL(TEST_AMQP_URL);
    return `amqp://${target.username}:${target.password}@127.0.0.1:${this.port}`;
  }

  /** The node goes down: open connections drop, new ones are refused. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise((ok) => server.close(ok));
  }
}

/** A port nothing listens on: a node that is down. */
async function deadPort(): Promise<number> {
  const p = await NodeProxy.start();
  await p.cut();
  return p.port;
}

describe('failover between the nodes of AMQP_URL', () => {
  let ctx: TestContext;
  const proxies: NodeProxy[] = [];
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
    for (const p of proxies.splice(0)) await p.cut();
  });

  it('a node down at start: the process connects to the next URL and logs which', async () => {
    const down = await deadPort();
    const up = await NodeProxy.start();
    proxies.push(up);
    const { logger, capture } = captureLogger('gateway');
    const { url } = await ctx.startGateway({ logger, config: { amqpUrls: [`amqp://guest:guest@127.0.0.1:${down}`, up.url()] } });
    const retry = capture.entries.find((e) => e.message === 'broker not reachable yet, retrying');
    assert.ok(retry, 'the refused node is logged');
    assert.match(String(retry.url), new RegExp(`:${down}\\b`));
    assert.match(String(retry.next), new RegExp(`:${up.port}\\b`), 'the log names the node it tries next');
    const connected = capture.entries.find((e) => e.message === 'connected to broker');
    assert.match(String(connected?.url), new RegExp(`:${up.port}\\b`));
    assert.equal(connected?.node, '2 of 2');
    const queue = ctx.queue('failover');
    await ctx.startWorker({ queues: [queue] });
    const res = await http<{ result: number }>(`${url}/api/v1/tasks/demo.add?wait=20`, { json: { args: [2, 3], options: { queue } } });
    assert.equal(res.status, 200);
    assert.equal(res.body.result, 5);
  });

  it('every node down: submits get 503 with Retry-After, /readyz 503, nothing hangs; then it resumes', async () => {
    const a = await NodeProxy.start();
    const b = await NodeProxy.start();
    proxies.push(a, b);
    const queue = ctx.queue('alldown');
    const { url } = await ctx.startGateway({ config: { amqpUrls: [a.url(), b.url()] } });
    assert.equal((await http(`${url}/readyz`)).status, 200);
    await a.cut();
    await b.cut();
    await waitFor('the gateway to notice', async () => (await http(`${url}/readyz`)).status === 503);
    for (const path of ['/api/v1/tasks/demo.add', '/api/v1/tasks/demo.add?wait=5']) {
      const res = await http<{ error: { code: string } }>(`${url}${path}`, { json: { args: [1, 1], options: { queue } } });
      assert.equal(res.status, 503, path);
      assert.equal(res.body.error.code, 'BROKER_UNAVAILABLE');
      assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After is set');
    }
    const ready = await http<{ broker: string }>(`${url}/readyz`);
    assert.equal(ready.body.broker, 'down');
    // A node comes back (on its old port): the gateway reconnects by itself.
    await b.open();
    await ctx.startWorker({ queues: [queue] });
    const back = await waitFor('submits to work again', async () => {
      const r = await http<{ result: number }>(`${url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [2, 2], options: { queue } } });
      return r.status === 200 ? r : undefined;
    }, { timeoutMs: 60_000, everyMs: 250 });
    assert.equal(back.body.result, 4);
  });

  it('a queue declared by someone else with other arguments: a clear error naming the queue and both sets, no reconnect loop', async () => {
    const queue = ctx.queue('mismatch');
    // "Someone else": a client that declared the queue as a quorum queue.
    const other = await amqp.connect(TEST_AMQP_URL);
    try {
      const channel = await other.createChannel();
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    } finally {
      await other.close();
    }
    const { logger, capture } = captureLogger('worker');
    // This worker was told the queue is classic (the default).
    const started = ctx.startWorker({ queues: [queue], logger });
    const err = await started.then(
      () => assert.fail('the worker must not start'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof QueueMismatchError, `got ${String(err)}`);
    assert.equal(err.code, 'QUEUE_MISMATCH');
    assert.equal(err.queue, queue);
    assert.deepEqual(err.declared, {});
    assert.deepEqual(err.existing, { 'x-queue-type': 'quorum' });
    assert.match(err.message, new RegExp(`Queue "${queue.replace(/\./g, '\\.')}"`));
    assert.match(err.message, /Celerity declares \{\}; the existing queue has \{"x-queue-type":"quorum"\}/);
    // It failed on the first refusal: no retry of the connection.
    assert.equal(capture.entries.filter((e) => e.message === 'broker not reachable yet, retrying').length, 0);

    // The same queue named in a submit (declared on first use): 503 for that submit only.
    const { gateway, url } = await ctx.startGateway();
    const res = await http<{ error: { code: string } }>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue } } });
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, 'QUEUE_UNAVAILABLE');
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    assert.equal((await http(`${url}/readyz`)).status, 200, 'the gateway itself stays ready');
    assert.equal(gateway.state, 'RUNNING');
  });

  it('a queue redeclared otherwise while the gateway was away: on reconnect it says so once and stays not ready, no loop', async () => {
    const node = await NodeProxy.start();
    proxies.push(node);
    const queue = ctx.queue('swapped');
    const { logger, capture } = captureLogger('gateway');
    const { url } = await ctx.startGateway({ logger, config: { amqpUrls: [node.url()] } });
    await ctx.startWorker({ queues: [queue] });
    assert.equal((await http(`${url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [1, 1], options: { queue } } })).status, 200);
    await node.cut();
    // Meanwhile someone deletes the queue and declares it as a quorum queue.
    const other = await amqp.connect(TEST_AMQP_URL);
    try {
      const channel = await other.createChannel();
      await channel.deleteQueue(queue);
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    } finally {
      await other.close();
    }
    await node.open();
    const refused = await waitFor('the refusal to be logged', () => capture.entries.find((e) => e.message === 'broker setup refused; not reconnecting until restarted'), { timeoutMs: 30_000 });
    const err = refused.err as { code?: string; message?: string };
    assert.equal(err.code, 'QUEUE_MISMATCH');
    assert.match(String(err.message), new RegExp(queue.replace(/\./g, '\\.')));
    const ready = await http<{ broker: string }>(`${url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.broker, 'down');
    assert.equal(capture.entries.filter((e) => e.message === 'broker setup refused; not reconnecting until restarted').length, 1);
  });

  it('a gateway told QUEUE_TYPES=<queue>=quorum declares it so, and a worker consumes it with per-consumer prefetch', async () => {
    const queue = ctx.queue('quorum');
    const other = ctx.queue('classic');
    const queueTypes = parseQueueTypes('QUEUE_TYPES', `${queue}=quorum`);
    const { url } = await ctx.startGateway({ config: { queueTypes } });
    const { logger, capture } = captureLogger('worker');
    // Two queues, one of them quorum: per-consumer prefetch plus the local gate of 2 slots.
    await ctx.startWorker({ queues: [queue, other], concurrency: 2, logger, queueTypes });
    assert.equal(capture.entries.find((e) => e.message === 'consuming')?.prefetch, 'consumer');
    const calls = Array.from({ length: 8 }, (_, i) =>
      http<{ result: number }>(`${url}/api/v1/tasks/demo.add?wait=30`, { json: { args: [i, 1], options: { queue: i % 2 ? queue : other } } }),
    );
    const results = await Promise.all(calls);
    assert.deepEqual(results.map((r) => [r.status, r.body.result]), results.map((_, i) => [200, i + 1]));
    await assertQuorumOnBroker(queue);
  });
});

/** The broker has `queue` as a quorum queue: a classic redeclaration of it is refused (406). */
async function assertQuorumOnBroker(queue: string): Promise<void> {
  const probe = await amqp.connect(TEST_AMQP_URL);
  try {
    const channel = await probe.createChannel();
    channel.on('error', () => undefined);
    await assert.rejects(channel.assertQueue(queue, { durable: true }), { code: 406 });
  } finally {
    await probe.close();
  }
}

describe('quorum queues named by a task definition', () => {
  it('a task with queueType quorum gets a quorum queue from the gateway, the worker and the Node client alike, without QUEUE_TYPES', async (t) => {
    const ctx = await TestContext.create();
    t.after(() => ctx.cleanup());
    const queue = ctx.queue('defined-quorum');
    const double = defineTask({ name: 'quorum.double', queue, queueType: 'quorum', args: z.tuple([z.number()]), run: ([n]) => n * 2 });
    const { url } = await ctx.startGateway({ tasks: [double] });
    await ctx.startWorker({ queues: [queue], concurrency: 2, tasks: [double] });
    const viaHttp = await http<{ state: string; result: number }>(`${url}/api/v1/tasks/quorum.double?wait=30`, { json: { args: [21] } });
    assert.deepEqual([viaHttp.status, viaHttp.body.result], [200, 42]);
    const client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, logger: ctx.logger, env: {}, tasks: [double] });
    try {
      assert.equal(await (await client.submit(double, [5])).result({ timeoutMs: 30_000 }), 10);
    } finally {
      await client.close();
    }
    await assertQuorumOnBroker(queue);
  });
});

describe('quorum queues: the broker delivery limit', () => {
  it('a message returned more than x-delivery-limit times is dead-lettered by the broker into <queue>.dead (at-least-once)', async () => {
    const ctx = await TestContext.create();
    const connection = await amqp.connect(TEST_AMQP_URL);
    try {
      const queue = ctx.queue('limit');
      const channel = await connection.createConfirmChannel();
      await declareTaskQueue(channel, queue, parseQueueTypes('QUEUE_TYPES', `${queue}=quorum`));
      channel.publish('', queue, Buffer.from('[[], {}, {}]'), { correlationId: 'poison-1', headers: { id: 'poison-1', task: 'demo.add' }, deliveryMode: 2 });
      await channel.waitForConfirms();
      // A consumer that gives the message back every time, as a crashing worker would.
      let returns = 0;
      await channel.consume(queue, (message) => {
        if (!message) return;
        returns++;
        channel.nack(message, false, true);
      });
      const letters = await waitFor('the broker to dead-letter it', async () => {
        const l = await ctx.deadLetters(queue);
        return l.length === 1 ? l : undefined;
      }, { timeoutMs: 30_000, everyMs: 100 });
      assert.equal(letters[0]?.id, 'poison-1');
      assert.equal(letters[0]?.reason, 'broker:delivery_limit');
      assert.equal(returns, QUORUM_DELIVERY_LIMIT + 1, 'delivered once plus once per allowed return');
      assert.equal((await ctx.queueDepth(queue)).messages, 0);
    } finally {
      await connection.close();
      await ctx.cleanup();
    }
  });
});

describe('FinishedListener', () => {
  it('hears of tasks that reach a final state in its schema, and of no others', async () => {
    const ctx = await TestContext.create();
    const otherCtx = await TestContext.create();
    const heard: string[] = [];
    const listener = await FinishedListener.create({ databaseUrl: TEST_DATABASE_URL, schema: ctx.schema, logger: createSilentLogger(), onFinished: (id) => heard.push(id) });
    try {
      const pool = createPool({ url: TEST_DATABASE_URL, schema: ctx.schema, logger: createSilentLogger(), applicationName: 'test', max: 1 });
      const store = new TaskStore(pool, { logger: createSilentLogger() });
      const base = { name: 'demo.add', queue: 'q', args: [1, 2], kwargs: {} };
      await store.record({ ...base, id: 'running', state: 'STARTED' });
      await store.record({ ...base, id: 'done', state: 'PENDING' });
      await store.record({ ...base, id: 'done', state: 'SUCCESS', result: 3 });
      await otherCtx.store.record({ ...base, id: 'elsewhere', state: 'SUCCESS', result: 3 });
      await waitFor('the notification', () => heard.includes('done'));
      await store.record({ ...base, id: 'marker', state: 'FAILURE', error: { type: 'E', message: 'm' } });
      await waitFor('the second notification', () => heard.includes('marker'));
      assert.deepEqual(heard, ['done', 'marker']);
      await pool.end();
    } finally {
      await listener.close();
      await listener.close();
      await ctx.cleanup();
      await otherCtx.cleanup();
    }
  });
});
