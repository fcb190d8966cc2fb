/**
 * MESSAGE_HEADERS=lean against the real broker: what a gateway and the Node client publish
 * carries only the headers a Celerity worker reads, and a Celerity worker runs it as it runs a
 * message with every Celery header (retries with backoff, time limits, countdown included).
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { createClient } from '../../shared/src/client/client.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitFor, type Task } from '../helpers/harness.js';

/** The headers of every message on `queue`, taken off it (the queue is the test's own). */
async function headersOn(queue: string): Promise<Record<string, unknown>[]> {
  const connection = await amqp.connect(TEST_AMQP_URL);
  try {
    const channel = await connection.createChannel();
    const out: Record<string, unknown>[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) return out;
      out.push(message.properties.headers as Record<string, unknown>);
    }
  } finally {
    await connection.close();
  }
}

/** The Celery protocol's headers of a message (Celerity's own x-celerity-* ones aside). */
function celeryHeaderNames(headers: Record<string, unknown> | undefined): string[] {
  return Object.keys(headers ?? {}).filter((name) => !name.startsWith('x-celerity-')).sort();
}

describe('MESSAGE_HEADERS=lean', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('the gateway and the Node client publish only task, id and the headers set; Celery gateways still send every header', async () => {
    const queue = ctx.queue('lean');
    const lean = await ctx.startGateway({ config: { messageHeaders: 'lean' } });
    const full = await ctx.startGateway();
    assert.equal((await http<Task>(`${lean.url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue } } })).status, 202);
    assert.equal((await http<Task>(`${lean.url}/api/v1/tasks/demo.add`, { json: { args: [3, 4], options: { queue, timeLimit: 30 } } })).status, 202);
    const client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, logger: ctx.logger, env: { MESSAGE_HEADERS: 'lean' } });
    try {
      await client.submit('demo.add', [5, 6], {}, { queue });
    } finally {
      await client.close();
    }
    assert.equal((await http<Task>(`${full.url}/api/v1/tasks/demo.add`, { json: { args: [7, 8], options: { queue } } })).status, 202);
    await waitFor('four messages on the queue', async () => (await ctx.queueDepth(queue)).messages === 4);
    const [plain, limited, fromClient, celery] = await headersOn(queue);
    assert.deepEqual(celeryHeaderNames(plain), ['id', 'task']);
    assert.deepEqual(limited?.timelimit, [30, null]);
    assert.ok(!('argsrepr' in (limited ?? {})));
    assert.deepEqual(celeryHeaderNames(fromClient), ['id', 'task']);
    for (const name of ['lang', 'argsrepr', 'kwargsrepr', 'origin', 'root_id', 'timelimit']) assert.ok(name in (celery ?? {}), `the Celery message has ${name}`);
  });

  it('a Celerity worker runs lean messages: a ?wait= answer, a countdown, a retry', async () => {
    const queue = ctx.queue('lean-run');
    const gw = await ctx.startGateway({ config: { messageHeaders: 'lean' } });
    await ctx.startWorker({ queues: [queue] });
    const waited = await http<Task>(`${gw.url}/api/v1/tasks/demo.add?wait=20`, { json: { args: [2, 3], options: { queue } } });
    assert.equal(waited.status, 200);
    assert.equal(waited.body.state, 'SUCCESS');
    assert.equal(waited.body.result, 5);
    const later = await http<Task>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue, countdown: 0.3 } } });
    assert.equal(later.status, 202);
    await waitFor('the countdown task to succeed', async () => (await ctx.store.get(later.body.id))?.state === 'SUCCESS');
    const flaky = await http<Task>(`${gw.url}/api/v1/tasks/demo.flaky`, { json: { args: [1], options: { queue } } });
    assert.equal(flaky.status, 202);
    await waitFor('the retried task to succeed', async () => (await ctx.store.get(flaky.body.id))?.state === 'SUCCESS', { timeoutMs: 30_000 });
    assert.equal((await ctx.store.get(flaky.body.id))?.retries, 1);
  });
});
