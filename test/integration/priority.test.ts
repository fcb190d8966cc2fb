/**
 * Priority queues end to end: a queue declared with x-max-priority (QUEUE_MAX_PRIORITY) by the
 * gateway and the worker alike delivers a high-priority task ahead of a backlog of low ones,
 * and a process declaring the queue with another priority setting is refused with QUEUE_MISMATCH.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { z } from 'zod';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitFor, type Task } from '../helpers/harness.js';
import { createClient } from '../../shared/src/client/client.js';
import { defineTask } from '../../shared/src/app/define-task.js';
import { runPythonClient } from '../helpers/python-celery.js';
import { taskQueueArguments } from '../../shared/src/broker/topology.js';
import type { QueueTypes } from '../../shared/src/core/index.js';

interface BatchBody {
  tasks: Task[];
}

describe('priorities', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a high-priority task submitted after 200 low ones runs within the first few', async () => {
    const queue = ctx.queue('prio');
    const queueTypes: QueueTypes = { default: 'classic', perQueue: {}, maxPriority: { [queue]: 10 } };
    const { url } = await ctx.startGateway({ config: { queueTypes } });
    // No worker yet: everything waits in the queue, where the broker orders it by priority.
    const low = Array.from({ length: 200 }, (_, i) => ({ name: 'demo.add', args: [i, 0], options: { queue, priority: 1 } }));
    const lows = await http<BatchBody>(`${url}/api/v1/tasks`, { json: { tasks: low } });
    assert.equal(lows.status, 202);
    const high = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1000, 0], options: { queue, priority: 9 } } });
    assert.equal(high.status, 202);
    assert.equal((await ctx.queueDepth(queue)).messages, 201);

    await ctx.startWorker({ queues: [queue], concurrency: 1, queueTypes });
    await waitFor('all 201 tasks to finish', async () => {
      const { rows } = await ctx.pool.query<{ n: string }>(`SELECT count(*) AS n FROM tasks WHERE queue = $1 AND state = 'SUCCESS'`, [queue]);
      return Number(rows[0]?.n) === 201;
    }, { timeoutMs: 60_000 });
    const { rows } = await ctx.pool.query<{ before: string }>(
      `SELECT count(*) AS before FROM tasks WHERE queue = $1 AND started_at < (SELECT started_at FROM tasks WHERE id = $2)`,
      [queue, high.body.id],
    );
    const startedBefore = Number(rows[0]?.before);
    assert.ok(startedBefore < 3, `the high-priority task started after ${startedBefore} of the 200 low-priority ones`);
  });

  it('a worker declaring the queue without its priority is refused with QUEUE_MISMATCH, saying the priority differs', async () => {
    const queue = ctx.queue('prio-mismatch');
    const queueTypes: QueueTypes = { default: 'classic', perQueue: {}, maxPriority: { [queue]: 10 } };
    const { url } = await ctx.startGateway({ config: { queueTypes } });
    const submitted = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue } } });
    assert.equal(submitted.status, 202);
    await assert.rejects(
      ctx.startWorker({ queues: [queue], concurrency: 1 }),
      (err: unknown) => {
        const found = findCoded(err, 'QUEUE_MISMATCH');
        assert.ok(found, `expected a QUEUE_MISMATCH, got ${String(err)}`);
        assert.match(found.message, /priority setting differs/);
        assert.match(found.message, /x-max-priority/);
        return true;
      },
    );
  });
});

/** Whether the broker accepts declaring `queue` (durable, classic) with `args`: it refuses arguments other than the queue's. */
async function declaresAs(queue: string, args: Record<string, unknown>): Promise<boolean> {
  const connection = await amqp.connect(TEST_AMQP_URL);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    try {
      await channel.assertQueue(queue, { durable: true, arguments: args });
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === 406) return false;
      throw err;
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

describe('priorities from the Node client', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('declares the queue with a task\'s maxPriority, or QUEUE_MAX_PRIORITY\'s, as the gateway and the worker do', async () => {
    const queue = ctx.queue('prio-client');
    const urgent = defineTask({ name: 'prio.add', queue, maxPriority: 10, args: z.tuple([z.number(), z.number()]), run: ([a, b]) => a + b });
    const client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, logger: ctx.logger, env: {}, tasks: [urgent] });
    ctx.defer(() => client.close());
    const handle = await client.submit(urgent, [1, 2], {}, { priority: 8 });
    assert.equal(await declaresAs(queue, { 'x-max-priority': 10 }), true, 'the client declared x-max-priority 10');
    assert.equal(await declaresAs(queue, {}), false);
    // A worker with the same app declares it alike, and runs the task.
    await ctx.startWorker({ queues: [queue], tasks: [urgent] });
    assert.equal(await handle.result({ timeoutMs: 30_000 }), 3);

    const named = ctx.queue('prio-client-env');
    const byEnv = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, logger: ctx.logger, env: { QUEUE_MAX_PRIORITY: `${named}=5` } });
    ctx.defer(() => byEnv.close());
    await byEnv.submit('demo.add', [1, 1], {}, { queue: named, priority: 3 });
    assert.equal(await declaresAs(named, { 'x-max-priority': 5 }), true, 'QUEUE_MAX_PRIORITY reached the client');
  });
});

describe('priorities with a Python Celery client', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a Celery client declaring the queue with the x-max-priority docs/celery.md gives shares it; one without is refused', async () => {
    const queue = ctx.queue('prio-celery');
    const queueTypes: QueueTypes = { default: 'classic', perQueue: {}, maxPriority: { [queue]: 10 } };
    await ctx.startWorker({ queues: [queue], queueTypes });
    // What docs/celery.md tells a Celery client: Queue(..., queue_arguments={'x-max-priority': 10}).
    const queue_arguments = { 'x-max-priority': 10 };
    assert.deepEqual(queue_arguments, taskQueueArguments(queue, queueTypes), 'the documented arguments are the ones Celerity declares');
    const [sent] = await runPythonClient([{ task: 'demo.add', args: [20, 22], queue, queue_arguments, priority: 7 }]);
    assert.ok(sent?.ok, JSON.stringify(sent));
    assert.equal(sent.result, 42);
    // kombu's default declaration (no arguments) of the same queue is inequivalent.
    const [plain] = await runPythonClient([{ task: 'demo.add', args: [1, 1], queue, queue_arguments: { 'x-queue-type': 'classic' } }]);
    assert.ok(plain && !plain.ok, 'a declaration without the priority is refused');
    assert.match(plain.message, /PRECONDITION_FAILED.*x-max-priority/);
  });
});

/** The error coded `code` in `err` or its causes (start-up may wrap it). */
function findCoded(err: unknown, code: string): Error | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === code) return e;
  }
  return undefined;
}
