/**
 * Holes in the submit and reply path that a review found (issue 11), each shown against the
 * real broker and database: an idempotency replay must be backed by a confirmed publish, a
 * submit-only key must not read results through a replay, the gateway's shutdown answers
 * what is in flight, and a reply queue the broker deletes is declared and consumed again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import amqp, { type ChannelModel } from 'amqplib';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { IdempotencyKeys } from '../../shared/src/store/idempotency.js';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { createClient } from '../../shared/src/client/client.js';
import { prepareSubmission, type Submission } from '../../shared/src/submit/submission.js';
import { type Broker } from '../../shared/src/broker/connection.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitFor, waitForState, type Task } from '../helpers/harness.js';
import { demoApp } from '../helpers/demo.js';

const catalogue = new Catalogue((await demoApp()).tasks);

/** Deletes a queue through the connection that owns it (reply queues are exclusive to it). */
async function deleteOwnQueue(broker: Broker, queue: string): Promise<void> {
  const connection = broker.connection as ChannelModel;
  const channel = await connection.createChannel();
  await channel.deleteQueue(queue);
  await channel.close();
}

/** Plays a Python Celery worker: takes the task message from `queue` and replies `result` to its reply_to. */
async function replyAsPython(queue: string, result: unknown): Promise<{ id: string; replyTo: string }> {
  const connection = await amqp.connect(TEST_AMQP_URL);
  try {
    const channel = await connection.createChannel();
    const message = await waitFor('the task message', async () => (await channel.get(queue, { noAck: true })) || undefined);
    const id = String(message.properties.headers?.id);
    const replyTo = String(message.properties.replyTo);
    const body = { task_id: id, status: 'SUCCESS', result, traceback: null, children: [], date_done: new Date().toISOString() };
    channel.publish('', replyTo, Buffer.from(JSON.stringify(body)), { correlationId: id, contentType: 'application/json', contentEncoding: 'utf-8' });
    await channel.close();
    return { id, replyTo };
  } finally {
    await connection.close();
  }
}

describe('submit path: idempotency, scopes, shutdown, reply queue', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await TestContext.create();
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('a replay of a key claimed by a process that died before publishing publishes the task: it runs', async () => {
    const queue = ctx.queue('claimdied');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const body = { args: [2, 40], options: { queue } };
    // What a gateway left behind when it died between its claim and its publish.
    const claimed: Submission = prepareSubmission(catalogue.get('demo.add')!, body);
    const key = `died-${randomUUID()}`;
    assert.deepEqual(await new IdempotencyKeys(ctx.pool, 3_600_000).claim(key, claimed.id, claimed.fingerprint), { claimed: true });
    const retry = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: body, headers: { 'idempotency-key': key } });
    assert.equal(retry.status, 202);
    assert.equal(retry.body.id, claimed.id, 'the claimed task id');
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    const done = await waitForState(url, claimed.id, ['SUCCESS']);
    assert.equal(done.result, 42, 'the 202 was backed by a publish: the task ran');
    const { rows } = await ctx.pool.query<{ unconfirmed: boolean }>('SELECT unconfirmed FROM idempotency_keys WHERE key = $1', [key]);
    assert.equal(rows[0]?.unconfirmed, false, 'confirmed once published');
  });

  it('a replay for a submit-only key shows the PENDING representation, never the result or error', async () => {
    const queue = ctx.queue('scoped');
    const { url } = await ctx.startGateway({ config: { authMode: 'keys' } });
    const keys = new ApiKeyStore(ctx.pool);
    const submitOnly = (await keys.create({ name: 'submitter', scopes: 'demo.*' })).secret;
    const submit = (): Promise<{ status: number; headers: Headers; body: Task }> =>
      http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue } }, headers: { authorization: `Bearer ${submitOnly}`, 'idempotency-key': 'once' } });
    const first = await submit();
    assert.equal(first.status, 202);
    const record = await ctx.store.get(first.body.id);
    assert.ok(record, 'the PENDING row');
    // The task finished (as a worker would have recorded it).
    await ctx.pool.query(`UPDATE tasks SET state = 'SUCCESS', result = '3'::jsonb, finished_at = now() WHERE id = $1`, [first.body.id]);
    const replay = await submit();
    assert.equal(replay.status, 202);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.equal(replay.body.id, first.body.id);
    assert.equal(replay.body.state, 'PENDING');
    assert.equal(replay.body.result, null);
    assert.equal(replay.body.error, null);
  });

  it('shutdown: long-polls get their answer (not a cut socket), a submit awaiting its confirm is answered, then connections close', async () => {
    const queue = ctx.queue('shutdown');
    const { url, gateway } = await ctx.startGateway({ drainMs: 200 });
    // Nobody consumes the queue: the tasks never finish.
    const pending = await http<Task>(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [1], options: { queue } } });
    assert.equal(pending.status, 202);
    const longPoll = http<Task>(`${url}/api/v1/tasks/${pending.body.id}?wait=30`);
    const waitSubmit = http<Task>(`${url}/api/v1/tasks/demo.sleep?wait=30`, { json: { args: [1], options: { queue } } });
    await waitFor('both waits to be registered', () => gateway.core.waiters.size === 2);
    // A submit whose publish is held until the gateway is draining: as a slow confirm.
    const submitter = gateway.core.submitter;
    const original = submitter.submit.bind(submitter);
    let entered = false;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    submitter.submit = async (submission, options) => {
      entered = true;
      await gate;
      return original(submission, options);
    };
    const slowSubmit = http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue } } });
    await waitFor('the slow submit to be publishing', () => entered);
    const closed = gateway.close();
    await waitFor('the gateway to drain', () => gateway.state === 'DRAINING');
    const [polled, waited] = await Promise.all([longPoll, waitSubmit]);
    // GET answers the task as it is (200), POST ?wait= its 202, as when their time is up.
    assert.equal(polled.status, 200);
    assert.equal(polled.body.id, pending.body.id);
    assert.equal(polled.body.state, 'PENDING');
    assert.equal(waited.status, 202);
    assert.equal(waited.body.state, 'PENDING');
    release();
    const slow = await slowSubmit;
    assert.equal(slow.status, 202, 'the submit awaiting its confirm was answered');
    await closed;
    assert.equal(gateway.state, 'STOPPED');
    assert.equal((await ctx.queueDepth(queue)).messages, 3, 'every 202 is a published message');
  });

  it('the broker deletes the gateway reply queue: it is declared again and a Python worker result still arrives', async () => {
    const queue = ctx.queue('pyreply');
    const { url, gateway } = await ctx.startGateway({ externalTasks: [{ name: 'py.reply', queue }] });
    const submitted = await http<Task>(`${url}/api/v1/tasks/py.reply`, { json: { args: [1] } });
    assert.equal(submitted.status, 202);
    const replyQueue = gateway.core.replies.replyTo;
    assert.ok(replyQueue);
    await deleteOwnQueue(gateway.core.broker, replyQueue);
    await waitFor('the reply consumer to be restored', () => gateway.core.replies.resubscribes === 1);
    const { replyTo } = await replyAsPython(queue, 'from python');
    assert.equal(replyTo, replyQueue);
    const done = await waitForState(url, submitted.body.id, ['SUCCESS']);
    assert.equal(done.result, 'from python');
  });

  it('the broker deletes the client reply queue: result() still gets a Python worker result', async () => {
    const queue = ctx.queue('pyclient');
    const client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, logger: ctx.logger, env: {} });
    try {
      const h = await client.submit('py.client', [1], {}, { queue });
      const replyQueue = client.replyQueue;
      assert.ok(replyQueue);
      await deleteOwnQueue(client.core.broker, replyQueue);
      await waitFor('the reply consumer to be restored', () => client.core.replies.resubscribes === 1);
      await replyAsPython(queue, { ok: true });
      assert.deepEqual(await h.result({ timeoutMs: 15_000 }), { ok: true });
      assert.equal(await h.state(), 'SUCCESS', 'recorded in the store from the reply');
    } finally {
      await client.close();
    }
  });
});
