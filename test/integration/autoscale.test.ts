/**
 * Concurrency at run time, against the real RabbitMQ and PostgreSQL: `--autoscale 4,1` grows
 * under a backlog and shrinks back when idle (its concurrency and gauge follow), `resize(n)`
 * changes how many tasks run at once (a shrink cuts none), and `setRateLimit` delays starts.
 * The tasks here block until the test releases them, so "how many run at once" is counted,
 * never timed.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { defineTask } from '../../shared/src/app/define-task.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { CelerityError, ConfigError } from '../../shared/src/core/errors.js';
import { createWorker } from '../../worker/src/create-worker.js';
import { Worker } from '../../worker/src/worker.js';
import { demoApp } from '../helpers/demo.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, captureLogger, waitFor } from '../helpers/harness.js';

/** Tasks that run until the test releases them, counting how many run at once. */
const gate = { running: 0, maxRunning: 0, finished: 0, waiting: [] as (() => void)[] };
const block = defineTask({
  name: 'test.block',
  queue: 'demo',
  run: async () => {
    gate.running++;
    gate.maxRunning = Math.max(gate.maxRunning, gate.running);
    await new Promise<void>((resolve) => gate.waiting.push(resolve));
    gate.running--;
    gate.finished++;
    return 'released';
  },
});
function releaseAll(): void {
  for (const release of gate.waiting.splice(0)) release();
}

/** Publishes `count` messages of `name` onto `queue` on one connection (confirmed); returns their ids. */
async function publish(ctx: TestContext, queue: string, name: string, count: number, args: unknown[] = []): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  await ctx.publishMany(queue, ids.map((id) => encodeTaskMessage(newTaskMessage({ id, name, args, kwargs: {} }))));
  return ids;
}

async function gaugeOf(worker: Worker, queue: string): Promise<number | undefined> {
  return (await worker.metrics.concurrency.get()).values.find((v) => v.labels.queue === queue)?.value;
}

describe('worker concurrency at run time', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
    Object.assign(gate, { running: 0, maxRunning: 0, finished: 0, waiting: [] });
  });
  afterEach(async () => {
    releaseAll();
    await ctx.cleanup();
  });

  it('--autoscale 4,1 grows under a backlog, its prefetch following, and shrinks back to 1 when idle', async () => {
    const queue = ctx.queue('autoscale');
    await publish(ctx, queue, 'test.block', 10);
    const { logger, capture } = captureLogger('worker');
    const demo = await demoApp();
    const worker = await Worker.create({
      tasks: [...demo.tasks, block],
      appUrl: demo.url,
      config: {
        amqpUrls: [TEST_AMQP_URL],
        databaseUrl: TEST_DATABASE_URL,
        heartbeatS: 10,
        queues: [queue],
        concurrency: 8,
        autoscale: { max: 4, min: 1 },
        graceMs: 5_000,
        cpuThreads: 1,
        resultRetentionHours: 24,
      },
      autoscaleTiming: { tickMs: 100, coolDownMs: 500 },
      logger,
      schema: ctx.schema,
      processMetrics: false,
      events: false,
    });
    ctx.defer(() => worker.stop(1_000));
    // It starts at its minimum, whatever -c says.
    assert.equal(capture.entries.find((e) => e.message === 'consuming')?.concurrency, 1);
    await waitFor('the worker to grow to 4', () => worker.concurrency === 4 && gate.running === 4, { timeoutMs: 30_000 });
    assert.equal(await gaugeOf(worker, queue), 4);
    // Prefetch follows: the worker holds the four it runs, the rest stays in the broker.
    assert.equal(worker.inFlight, 4);
    assert.equal((await ctx.queueDepth(queue)).messages, 6);
    await waitFor('every task to finish', () => {
      releaseAll();
      return gate.finished === 10;
    }, { timeoutMs: 30_000 });
    assert.equal(gate.maxRunning, 4, 'never more than max at once');
    await waitFor('the worker to shrink back to 1 when idle', () => worker.concurrency === 1, { timeoutMs: 30_000 });
    assert.equal(await gaugeOf(worker, queue), 1);
    const decisions = Object.fromEntries((await worker.metrics.autoscaleDecisions.get()).values.map((v) => [`${v.labels.direction}/${v.labels.reason}`, v.value]));
    assert.ok((decisions['grow/backlog'] ?? 0) >= 1 && (decisions['shrink/idle'] ?? 0) >= 1, JSON.stringify(decisions));
    const resizes = capture.entries.filter((e) => typeof e.why === 'string');
    assert.ok(resizes.some((e) => e.why === 'backlog' && e.to === 4), 'the grow is logged with its reason');
    assert.ok(resizes.some((e) => e.why === 'idle' && e.to === 1), 'the shrink is logged with its reason');
  });

  it('resize(n) changes how many tasks run at once; a shrink cuts no running task', async () => {
    const queue = ctx.queue('resize');
    const worker = await ctx.startWorker({ queues: [queue], concurrency: 1, tasks: [...(await demoApp()).tasks, block], taskEvents: false });
    assert.equal(worker.concurrency, 1);
    assert.equal(worker.autoscale, undefined);
    await publish(ctx, queue, 'test.block', 5);
    await waitFor('one task to run', () => gate.running === 1);
    assert.equal(worker.inFlight, 1, 'prefetch 1: one message held');
    worker.resize(3);
    assert.equal(worker.concurrency, 3);
    await waitFor('three tasks to run at once', () => gate.running === 3);
    assert.equal(await gaugeOf(worker, queue), 3);
    worker.resize(1);
    assert.equal(gate.running, 3, 'running tasks are not cut');
    assert.equal(await gaugeOf(worker, queue), 1);
    releaseAll();
    await waitFor('the three to finish', () => gate.finished === 3);
    gate.maxRunning = gate.running;
    await waitFor('the last two to finish, one at a time', () => {
      releaseAll();
      return gate.finished === 5;
    });
    assert.equal(gate.maxRunning, 1, 'after the shrink, one at a time');
    for (const bad of [0, 10_001, 1.5]) assert.throws(() => worker.resize(bad), RangeError);
    assert.equal(worker.concurrency, 1);
  });

  it('setRateLimit delays starts (not failures); removing it lets the waiting one start; a stop sends it back', async () => {
    const queue = ctx.queue('rate');
    const worker = await ctx.startWorker({ queues: [queue], concurrency: 4, taskEvents: false });
    assert.throws(() => worker.setRateLimit('demo.add', 'lots'), (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_RATE_LIMIT');
    assert.throws(() => worker.setRateLimit('no.such.task', '1/s'), (err: unknown) => err instanceof CelerityError && err.code === 'UNKNOWN_TASK');
    worker.setRateLimit('demo.add', '1/h');
    const [first, second] = await publish(ctx, queue, 'demo.add', 2, [1, 2]);
    assert.ok(first && second);
    const delayed = async (): Promise<number> => (await worker.metrics.rateLimitDelays.get()).values.find((v) => v.labels.task === 'demo.add')?.value ?? 0;
    await waitFor('one to succeed and the other to be delayed', async () => (await delayed()) === 1 && (await ctx.store.get(first))?.state === 'SUCCESS');
    const waitingRow = await ctx.store.get(second);
    assert.ok(waitingRow === undefined || waitingRow.state === 'PENDING', `the delayed one has not started (${waitingRow?.state})`);
    worker.setRateLimit('demo.add', null);
    const done = await ctx.finalRow(second);
    assert.equal(done.state, 'SUCCESS');
    assert.equal(done.result, 3);
    // A start still waiting when the worker stops goes back to its queue.
    worker.setRateLimit('demo.add', '1/h');
    await publish(ctx, queue, 'demo.add', 2, [2, 2]);
    await waitFor('the second start to be delayed', async () => (await delayed()) === 2);
    await worker.stop(1_000);
    assert.equal((await ctx.queueDepth(queue)).messages, 1);
  });

  it('celerity worker reads WORKER_AUTOSCALE and starts at its minimum', async () => {
    const queue = ctx.queue('cli');
    const worker = await ctx.spawnWorker([queue], { WORKER_AUTOSCALE: '3,1' });
    await waitFor('the start line', () => worker.output().includes('with concurrency 1 (autoscaling 1 to 3)'));
    assert.ok(worker.output().includes('"autoscaling concurrency"'));
  });

  it('createWorker({ autoscale }) starts at min with its timing; bounds that do not hold are refused', async () => {
    const queue = ctx.queue('create');
    const { logger, capture } = captureLogger('worker');
    const options = { tasks: (await demoApp()).tasks.filter((t) => !t.cpu), queues: [queue], amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, logger, env: {} };
    const started = await createWorker({ ...options, autoscale: { max: 5, min: 2, tickMs: 200, coolDownMs: 2_000 } });
    ctx.defer(() => started.close());
    assert.equal(started.worker.concurrency, 2);
    assert.deepEqual(started.worker.autoscale, { max: 5, min: 2 });
    started.worker.resize(7);
    assert.deepEqual(started.worker.autoscale, { max: 7, min: 2 }, 'an operator resize widens the bounds');
    const line = capture.entries.find((e) => e.message === 'autoscaling concurrency');
    assert.ok(line);
    assert.deepEqual([line.max, line.min, line.tickMs, line.coolDownMs], [5, 2, 200, 2_000]);
    await assert.rejects(createWorker({ ...options, autoscale: { max: 2, min: 3 } }), (err: unknown) => err instanceof ConfigError && err.message.includes('max,min'));
  });
});
