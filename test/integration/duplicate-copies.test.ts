/**
 * Copies of one task message and messages that reuse a task's id, published straight onto the
 * task queue with amqplib as a broker peer would: a duplicate copy never runs beside a live
 * lease or after a final state, whatever its redelivered flag says, and a message whose id is
 * another task's is dead-lettered as malformed without touching that task (issue 28 item 6).
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineTask, type TaskDefinition } from '../../shared/src/app/define-task.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { demoApp } from '../helpers/demo.js';
import { TestContext, captureLogger, http, waitFor, type CaptureTransport, type Task } from '../helpers/harness.js';

const DEFERRED = 'task still running elsewhere; this copy is deferred, not run';
const ANSWERED = 'redelivered task already finished; not running it again';

/** The demo app with demo.sleep counting its runs per task id. */
async function countingApp(runs: Map<string, number>): Promise<TaskDefinition[]> {
  const counting = defineTask({
    name: 'demo.sleep',
    queue: 'demo',
    run: async (args: unknown[], _kwargs, task) => {
      runs.set(task.id, (runs.get(task.id) ?? 0) + 1);
      await sleep((args[0] as number) * 1000);
      return args[0];
    },
  });
  return [...(await demoApp()).tasks.filter((t) => t.name !== 'demo.sleep'), counting];
}

function raw(id: string, name: string, args: unknown[]): ReturnType<typeof encodeTaskMessage> {
  return encodeTaskMessage(newTaskMessage({ id, name, args, kwargs: {} }));
}

describe('duplicate copies and reused task ids', () => {
  let ctx: TestContext;
  let capture: CaptureTransport;
  const runs = new Map<string, number>();
  const logged = (id: string, text: string): boolean => capture.entries.some((e) => e.taskId === id && e.message === text);

  beforeEach(async () => {
    ctx = await TestContext.create();
    runs.clear();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  async function start(queue: string): Promise<void> {
    const captured = captureLogger('worker');
    capture = captured.capture;
    await ctx.startWorker({ queues: [queue], tasks: await countingApp(runs), logger: captured.logger, concurrency: 4 });
  }

  const deadLettersOf = async (queue: string, id: string) => (await ctx.deadLetters(queue)).filter((d) => d.id === id);

  it('a fresh copy of a running task (not flagged redelivered) is deferred, never run beside it; it counts one start', async () => {
    const queue = ctx.queue('dup');
    await start(queue);
    const id = randomUUID();
    const message = raw(id, 'demo.sleep', [2]);
    await ctx.publishRaw(queue, message.content, message.options);
    await waitFor('the first copy to be STARTED', async () => (await ctx.store.get(id))?.state === 'STARTED');
    await ctx.publishRaw(queue, message.content, message.options);
    await waitFor('the second copy to be deferred', () => logged(id, DEFERRED), { timeoutMs: 30_000 });
    const done = await ctx.finalRow(id);
    await waitFor('the deferred copy to be answered from the store', () => logged(id, ANSWERED), { timeoutMs: 30_000 });
    assert.equal(runs.get(id), 1, 'the task ran once');
    assert.deepEqual([done.state, done.result, done.attempts, done.deliveries], ['SUCCESS', 2, 1, 1]);
  });

  it('a message reusing the id of a running task under another name is dead-lettered; the victim\'s ?wait= gets its own result', async () => {
    const queue = ctx.queue('reuse');
    await start(queue);
    const { url } = await ctx.startGateway();
    const waited = http<Task>(`${url}/api/v1/tasks/demo.sleep?wait=30`, { json: { args: [2], options: { queue } } });
    const id = await waitFor('the victim to be STARTED', async () => {
      const { rows } = await ctx.pool.query<{ id: string }>(`SELECT id FROM tasks WHERE name = 'demo.sleep' AND state = 'STARTED'`);
      return rows[0]?.id;
    });
    const forged = raw(id, 'demo.add', [40, 2]);
    await ctx.publishRaw(queue, forged.content, forged.options);
    const dead = await waitFor('the forged message to be dead-lettered', async () => (await deadLettersOf(queue, id))[0], { timeoutMs: 30_000 });
    assert.deepEqual([dead.name, dead.reason], ['demo.add', 'malformed']);
    assert.match(dead.error?.message ?? '', /belongs to a task named "demo.sleep"/);
    const victim = await waited;
    assert.equal(victim.status, 200);
    assert.deepEqual([victim.body.id, victim.body.name, victim.body.state, victim.body.result], [id, 'demo.sleep', 'SUCCESS', 2]);
    const row = await ctx.finalRow(id);
    assert.deepEqual([row.name, row.state, row.result, row.attempts], ['demo.sleep', 'SUCCESS', 2, 1]);
  });

  it('after the task is final: a message of another name with its id is dead-lettered, a copy of it is answered, neither runs; the row is intact', async () => {
    const queue = ctx.queue('final');
    await start(queue);
    const id = randomUUID();
    const message = raw(id, 'demo.sleep', [0]);
    await ctx.publishRaw(queue, message.content, message.options);
    const before = await ctx.finalRow(id);
    const forged = raw(id, 'demo.add', [40, 2]);
    await ctx.publishRaw(queue, forged.content, forged.options);
    await waitFor('the forged message to be dead-lettered', async () => (await deadLettersOf(queue, id)).length === 1, { timeoutMs: 30_000 });
    await ctx.publishRaw(queue, message.content, message.options);
    await waitFor('the fresh copy to be answered from the store', () => logged(id, ANSWERED), { timeoutMs: 30_000 });
    assert.equal(runs.get(id), 1, 'the task ran once');
    const after = await ctx.store.get(id);
    assert.deepEqual(after, before, 'the row is intact');
  });
});
