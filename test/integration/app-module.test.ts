/**
 * Tasks from a user's app module, against the real broker and database: CPU tasks found by name
 * in each pool thread, their ctx (logger written through, soft limit as ctx.signal), errors that
 * keep their name across the thread boundary, and results JSON cannot carry.
 */
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadApp, type LoadedApp } from '../../index.js';
import { TestContext, captureLogger, http, waitForState, type Task } from '../helpers/harness.js';

const ROOT_ENTRY = new URL('../../index.js', import.meta.url).href;

const APP = `
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { PermanentError, RetryableError, defineTask, z } from ${JSON.stringify(ROOT_ENTRY)};

export const square = defineTask({
  name: 'app.square', queue: 'app', cpu: true, args: z.tuple([z.number()]),
  run([n], _kwargs, ctx) {
    ctx.logger.info('squaring in a thread', { n, taskId: ctx.id, retries: ctx.retries, queue: ctx.queue });
    return n * n;
  },
});

// Cooperative CPU work: checks ctx.signal between slices, as a long computation should.
export const spin = defineTask({
  name: 'app.spin', queue: 'app', cpu: true,
  async run(_args, _kwargs, ctx) {
    for (;;) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      await yieldToLoop();
    }
  },
});

export const bigint = defineTask({ name: 'app.bigint', queue: 'app', cpu: true, retry: { retryOn: 'any' }, run: () => 10n ** 20n });

export const cycle = defineTask({
  name: 'app.cycle', queue: 'app', retry: { retryOn: 'any' },
  run() { const a = { name: 'a' }; a.self = a; return a; },
});

export const refuse = defineTask({ name: 'app.refuse', queue: 'app', cpu: true, run: () => { throw new PermanentError('no such input'); } });

export const again = defineTask({
  name: 'app.again', queue: 'app', cpu: true, retry: { maxRetries: 2, backoffMs: 50, backoffMaxMs: 100 },
  run: (_args, _kwargs, ctx) => { if (ctx.retries < 2) throw new RetryableError('not yet'); return ctx.retries; },
});
`;

describe('app modules', () => {
  let dir: string;
  let app: LoadedApp;
  let ctx: TestContext;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'celerity-app-'));
    await writeFile(path.join(dir, 'tasks.mjs'), APP);
    app = await loadApp(path.join(dir, 'tasks.mjs'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  async function start(logger = ctx.logger): Promise<{ url: string; queue: string }> {
    const queue = ctx.queue('app');
    const { url } = await ctx.startGateway({ tasks: app.tasks });
    await ctx.startWorker({ queues: [queue], tasks: app.tasks, appUrl: app.url, logger });
    return { url, queue };
  }

  async function run(url: string, queue: string, name: string, args: unknown[] = [], options: Record<string, unknown> = {}): Promise<Task> {
    const res = await http<Task>(`${url}/api/v1/tasks/${name}?wait=30`, { json: { args, options: { queue, ...options } } });
    assert.equal(res.status === 200 || res.status === 202, true, JSON.stringify(res.body));
    return waitForState(url, res.body.id, ['SUCCESS', 'FAILURE']);
  }

  it('runs a CPU task from the module in a pool thread; its ctx.logger writes through the worker’s logger', async () => {
    const { logger, capture } = captureLogger('worker');
    const { url, queue } = await start(logger);
    const done = await run(url, queue, 'app.square', [12]);
    assert.equal(done.state, 'SUCCESS');
    assert.equal(done.result, 144);
    const line = capture.entries.find((e) => e.message === 'squaring in a thread');
    assert.ok(line, 'the thread’s log line reached the worker’s logger');
    assert.equal(line.n, 12);
    assert.equal(line.taskId, done.id);
    assert.equal(line.queue, queue);
    assert.equal(line.level, 'info');
  });

  it('the soft time limit reaches a CPU task as ctx.signal; it ends FAILURE SoftTimeLimitExceeded', async () => {
    const { url, queue } = await start();
    const done = await run(url, queue, 'app.spin', [], { softTimeLimit: 0.3, timeLimit: 20 });
    assert.equal(done.state, 'FAILURE');
    assert.equal(done.error?.type, 'SoftTimeLimitExceeded');
  });

  it('errors keep their name across the thread: PermanentError is not retried, RetryableError is', async () => {
    const { url, queue } = await start();
    const refused = await run(url, queue, 'app.refuse');
    assert.equal(refused.state, 'FAILURE');
    assert.deepEqual([refused.error?.type, refused.error?.message, refused.retries], ['PermanentError', 'no such input', 0]);
    const retried = await run(url, queue, 'app.again');
    assert.equal(retried.state, 'SUCCESS');
    assert.equal(retried.result, 2);
  });

  it('a result JSON cannot carry (a BigInt from a thread, a cycle in-process) fails once, never retried', async () => {
    const { url, queue } = await start();
    for (const name of ['app.bigint', 'app.cycle']) {
      const done = await run(url, queue, name);
      assert.equal(done.state, 'FAILURE', name);
      assert.equal(done.error?.type, 'ResultNotSerializableError', name);
      assert.match(done.error?.message ?? '', /cannot be stored as JSON/, name);
      assert.equal(done.retries, 0, `${name} is not retried although its policy retries any error`);
    }
  });
});
