/**
 * The Node client against the real broker and database, with an in-process worker running
 * the demo tasks: submit and result (success, failure, timeout), a task submitted by another
 * client (read from the store), submitMany, get, close twice, unknown names with and
 * without tasks, idempotency keys, and a reply queue the broker deletes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { CelerityError, ConfigError } from '../../shared/src/core/errors.js';
import { TaskFailedError, TaskTimeoutError } from '../../shared/src/client/errors.js';
import { createClient, type Client } from '../../shared/src/client/client.js';
import { defineTask } from '../../shared/src/app/define-task.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, waitFor } from '../helpers/harness.js';

describe('Node client', () => {
  let ctx: TestContext;
  let queue: string;
  let client: Client;
  let add: ReturnType<typeof defineAdd>;
  const defineAdd = (q: string) => defineTask({ name: 'demo.add', queue: q, args: z.tuple([z.number(), z.number()]), run: ([a, b]) => a + b });
  const clientFor = (extra: Parameters<typeof createClient>[0] = {}): Promise<Client> =>
    createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, logger: ctx.logger, env: {}, ...extra });

  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('client');
    add = defineAdd(queue);
    await ctx.startWorker({ queues: [queue] });
    client = await clientFor();
    ctx.defer(() => client.close());
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('submit resolves after the confirm with a handle; result() gives the typed result', async () => {
    const h = await client.submit(add, [2, 3]);
    assert.match(h.id, /^[0-9a-f-]{36}$/);
    const sum: number = await h.result({ timeoutMs: 15_000 });
    assert.equal(sum, 5);
    assert.equal(await h.state(), 'SUCCESS');
    assert.equal((await h.info())?.result, 5);
  });

  it('a failed task rejects with TaskFailedError carrying its type and message', async () => {
    const h = await client.submit('demo.fail', ['boom at step 3'], {}, { queue });
    const err = await h.result({ timeoutMs: 15_000 }).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TaskFailedError);
    assert.equal(err.code, 'TASK_FAILED');
    assert.equal(err.state, 'FAILURE');
    assert.equal(typeof err.type, 'string');
    assert.ok(err.type.length > 0);
    assert.equal(err.taskMessage, 'boom at step 3');
    assert.match(err.message, /boom at step 3/);
  });

  it('result() past its timeoutMs rejects with RESULT_TIMEOUT; the task still finishes later', async () => {
    const h = await client.submit('demo.sleep', [1], {}, { queue });
    const err = await h.result({ timeoutMs: 50 }).then(
      () => assert.fail('expected a timeout'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TaskTimeoutError);
    assert.equal(err.code, 'RESULT_TIMEOUT');
    assert.equal(await h.result({ timeoutMs: 15_000 }), 1);
  });

  it('result() works for a task another client submitted (read from the store)', async () => {
    const other = await clientFor();
    try {
      const submitted = await other.submit(add, [20, 22]);
      // Nothing replies to this client: the result comes from the store.
      assert.equal(await client.get<number>(submitted.id).result({ timeoutMs: 15_000 }), 42);
      assert.equal(await client.get(submitted.id).state(), 'SUCCESS');
    } finally {
      await other.close();
    }
  });

  it('submitMany publishes every item and returns handles in order; a bad item fails the whole call first', async () => {
    const handles = await client.submitMany([
      { task: add, args: [1, 1] },
      { task: 'demo.add', args: [2, 2], options: { queue } },
      { task: 'demo.echo', args: ['x'], kwargs: { k: 1 }, options: { queue } },
    ]);
    assert.equal(handles.length, 3);
    const results = await Promise.all(handles.map((h) => h.result({ timeoutMs: 15_000 })));
    assert.deepEqual(results, [2, 4, { args: ['x'], kwargs: { k: 1 } }]);
    const before = (await ctx.pool.query<{ n: string }>('SELECT count(*) AS n FROM tasks')).rows[0]?.n;
    await assert.rejects(
      client.submitMany([{ task: add, args: [1, 1] }, { task: add, args: ['x', 1] }]),
      (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_ARGUMENTS' && /items\[1\]/.test(err.message),
    );
    assert.equal((await ctx.pool.query<{ n: string }>('SELECT count(*) AS n FROM tasks')).rows[0]?.n, before, 'nothing was published');
  });

  it('get(id) of an unknown id: state PENDING, info undefined (as Celery answers)', async () => {
    const h = client.get('00000000-0000-4000-8000-000000000000');
    assert.equal(await h.state(), 'PENDING');
    assert.equal(await h.info(), undefined);
  });

  it('the same idempotencyKey gives the same task, which runs once', async () => {
    const key = `client-${ctx.suffix}`;
    const [a, b] = await Promise.all([client.submit(add, [4, 4], undefined, { idempotencyKey: key }), client.submit(add, [4, 4], undefined, { idempotencyKey: key })]);
    assert.equal(a.id, b.id);
    assert.equal(await a.result({ timeoutMs: 15_000 }), 8);
    const c = await client.submit(add, [4, 4], undefined, { idempotencyKey: key });
    assert.equal(c.id, a.id);
    await assert.rejects(client.submit(add, [5, 5], undefined, { idempotencyKey: key }), (err: unknown) => err instanceof CelerityError && err.code === 'IDEMPOTENCY_KEY_REUSED');
  });

  it('with tasks: an unknown name fails before publishing (UNKNOWN_TASK) and arguments are validated', async () => {
    const known = await clientFor({ tasks: [add] });
    try {
      await assert.rejects(known.submit('demo.nope', [], {}, { queue }), (err: unknown) => err instanceof CelerityError && err.code === 'UNKNOWN_TASK');
      await assert.rejects(known.submit('demo.add', ['a', 'b'], {}), (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_ARGUMENTS');
      assert.equal((await ctx.queueDepth(queue)).messages, 0, 'nothing was published');
      // An app module's exports work as `tasks` too.
      const fromModule = await clientFor({ tasks: { add, notATask: 1, default: [add] } });
      try {
        assert.equal(await (await fromModule.submit('demo.add', [1, 2])).result({ timeoutMs: 15_000 }), 3);
      } finally {
        await fromModule.close();
      }
    } finally {
      await known.close();
    }
  });

  it('without tasks: an unknown name is published as-is to options.queue (like send_task)', async () => {
    const elsewhere = ctx.queue('sendtask');
    const h = await client.submit('py.unknown', [1], { a: 1 }, { queue: elsewhere });
    await waitFor('the message on the queue', async () => (await ctx.queueDepth(elsewhere)).messages === 1);
    assert.equal(await h.state(), 'PENDING');
  });

  it('options are refused as HTTP refuses them', async () => {
    await assert.rejects(client.submit(add, [1, 1], undefined, { countdown: 1, eta: new Date().toISOString() }), (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_OPTIONS');
    await assert.rejects(client.submit(add, [1, 1], undefined, { priority: 999 }), (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_REQUEST');
  });

  it('an invalid option is a ConfigError naming the variable, not an exit', async () => {
    await assert.rejects(createClient({ amqpUrl: 'http://nope', env: {} }), (err: unknown) => err instanceof ConfigError && err.variable === 'AMQP_URL');
  });

  it('close() twice returns the same promise; afterwards calls fail with SHUTTING_DOWN and waits end', async () => {
    const short = await clientFor();
    const h = await short.submit('demo.sleep', [30], {}, { queue: ctx.queue('never') });
    const waiting = h.result().then(
      () => 'resolved',
      (err: unknown) => err,
    );
    const first = short.close();
    const second = short.close();
    assert.equal(first, second);
    await first;
    const ended = await waiting;
    assert.ok(ended instanceof CelerityError && ended.code === 'SHUTTING_DOWN', 'a pending result() ends with SHUTTING_DOWN');
    await assert.rejects(short.submit(add, [1, 1]), (err: unknown) => err instanceof CelerityError && err.code === 'SHUTTING_DOWN');
  });
});
