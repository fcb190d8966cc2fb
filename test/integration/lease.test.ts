/**
 * A task whose first copy still runs is not run again by a redelivered copy: the STARTED row
 * holds a lease that the running worker renews, and a copy that finds it live is deferred.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPUBLISHED_HEADER } from '../../shared/src/core/retry.js';
import { defineTask } from '../../shared/src/app/define-task.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { type Broker } from '../../shared/src/broker/connection.js';
import { demoApp } from '../helpers/demo.js';
import type { Worker } from '../../worker/src/worker.js';
import { TestContext, captureLogger, http, waitFor, type Task } from '../helpers/harness.js';

/** The worker's own broker connection (the test closes it, as `rabbitmqctl close_connection` would). */
function brokerOf(worker: Worker): Broker {
  return (worker as unknown as { parts: { broker: Broker } }).parts.broker;
}

describe('task lease', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a copy redelivered while the first still runs is deferred, and the task runs once', async () => {
    const runs = new Map<string, number>();
    const counting = defineTask({
      name: 'demo.sleep',
      queue: 'demo',
      run: async (args: unknown[], _kwargs, task) => {
        runs.set(task.id, (runs.get(task.id) ?? 0) + 1);
        await sleep((args[0] as number) * 1000);
        return args[0];
      },
    });
    const tasks = [...(await demoApp()).tasks.filter((t) => t.name !== 'demo.sleep'), counting];
    const { logger, capture } = captureLogger('worker');
    const queue = ctx.queue('lease');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], tasks, logger });
    const submitted = await http<Task>(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [4], options: { queue } } });
    assert.equal(submitted.status, 202);
    const id = submitted.body.id;
    await waitFor('the task to be STARTED with a lease', async () => {
      const t = await ctx.store.get(id);
      return t?.state === 'STARTED' && t.leaseExpiresAt instanceof Date;
    });
    const connection = brokerOf(worker).connection;
    assert.ok(connection);
    await connection.close();
    const logged = (text: string): boolean => capture.entries.some((e) => e.taskId === id && e.message === text);
    await waitFor('the redelivered copy to be deferred', () => logged('task still running elsewhere; this copy is deferred, not run'), { timeoutMs: 30_000 });
    await waitFor('the task to succeed', async () => (await ctx.store.get(id))?.state === 'SUCCESS', { timeoutMs: 30_000 });
    await waitFor('the deferred copy to be answered from the store', () => logged('redelivered task already finished; not running it again'), { timeoutMs: 60_000 });
    assert.equal(runs.get(id), 1, 'the task ran once');
  });

  it('a republished copy waits while a lease held elsewhere is live, and runs once it lapses (that worker died)', async () => {
    const queue = ctx.queue('lapsed');
    const { logger, capture } = captureLogger('worker');
    const id = randomUUID();
    // What a worker that died mid-task leaves behind: STARTED, its lease running out in 2 s.
    await ctx.store.record({ id, name: 'demo.add', queue, state: 'STARTED', args: [1, 2], kwargs: {}, worker: 'dead@host:1', leaseExpiresAt: new Date(Date.now() + 2_000) });
    const message = encodeTaskMessage(newTaskMessage({ id, name: 'demo.add', args: [1, 2], kwargs: {} }));
    await ctx.publishRaw(queue, message.content, { ...message.options, headers: { ...message.options.headers, [REPUBLISHED_HEADER]: true } });
    await ctx.startWorker({ queues: [queue], logger });
    const done = await waitFor('the task to succeed', async () => {
      const t = await ctx.store.get(id);
      return t?.state === 'SUCCESS' ? t : undefined;
    });
    assert.equal(done.result, 3);
    assert.ok(capture.entries.some((e) => e.taskId === id && e.holder === 'dead@host:1'), 'the copy was deferred while the lease was live');
  });
});
