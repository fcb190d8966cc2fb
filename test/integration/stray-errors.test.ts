/**
 * One task's failure is that task's alone, however it fails, in real worker processes: a
 * promise an in-process task rejects and leaves, one a CPU task leaves in its thread (while
 * it runs, or after it ended, while another task has the thread), and a crash outside any
 * task, which is one log line and a drain in which the running tasks finish.
 */
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadApp, type LoadedApp } from '../../index.js';
import { TestContext, http, waitFor, waitForState, type Task, type WorkerProcess } from '../helpers/harness.js';

const ROOT_ENTRY = new URL('../../index.js', import.meta.url).href;

const APP = `
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread } from 'node:worker_threads';
import { defineTask } from ${JSON.stringify(ROOT_ENTRY)};

// The bug: a promise rejected and never awaited, while the task goes on.
export const floating = defineTask({ name: 'stray.floating', async run() { Promise.reject(new Error('x')); await sleep(300); return 'not reached'; } });
export const slow = defineTask({ name: 'stray.slow', async run() { await sleep(1500); return 'ok'; } });
export const cpuFloating = defineTask({ name: 'stray.cpuFloating', cpu: true, async run() { Promise.reject(new Error('thread x')); await sleep(300); return 'not reached'; } });
// Returns at once, and rejects a promise in its thread half a second later.
export const cpuLate = defineTask({ name: 'stray.cpuLate', cpu: true, run() { setTimeout(() => Promise.reject(new Error('late in thread')), 500); return 'early'; } });
export const cpuSlow = defineTask({ name: 'stray.cpuSlow', cpu: true, async run() { await sleep(1500); return 'ok'; } });

// A bug outside any task: a signal handler of the app's that throws.
if (isMainThread) process.on('SIGUSR2', () => { throw new Error('worker bug outside any task'); });
`;

/** The JSON lines the worker printed whose message matches `pattern`. */
function lines(worker: WorkerProcess, pattern: RegExp): Record<string, unknown>[] {
  return worker
    .output()
    .split('\n')
    .filter((line) => pattern.test(line))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('stray errors', () => {
  let dir: string;
  let app: LoadedApp;
  let ctx: TestContext;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'celerity-stray-'));
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

  async function start(env: Record<string, string> = {}): Promise<{ url: string; queue: string; worker: WorkerProcess }> {
    const queue = ctx.queue('stray');
    const { url } = await ctx.startGateway({ tasks: app.tasks });
    const worker = await ctx.spawnWorker([queue], env, app.file);
    return { url, queue, worker };
  }

  async function submit(url: string, queue: string, name: string): Promise<string> {
    const res = await http<Task>(`${url}/api/v1/tasks/${name}`, { json: { args: [], options: { queue } } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id;
  }

  it('an in-process task’s unhandled rejection fails that task once; its neighbour succeeds; the worker keeps running', async () => {
    const { url, queue, worker } = await start();
    const slow = await submit(url, queue, 'stray.slow');
    const floating = await submit(url, queue, 'stray.floating');
    const failed = await waitForState(url, floating, ['SUCCESS', 'FAILURE']);
    assert.deepEqual([failed.state, failed.error?.type, failed.error?.message, failed.attempts], ['FAILURE', 'Error', 'x', 1]);
    const done = await waitForState(url, slow, ['SUCCESS', 'FAILURE']);
    assert.deepEqual([done.state, done.result], ['SUCCESS', 'ok']);
    assert.equal((await ctx.store.get(slow))?.deliveries, 1, 'the neighbour ran once');
    assert.equal(worker.child.exitCode, null, 'the worker is still running');
    const logged = lines(worker, /left a promise rejection unhandled/);
    assert.deepEqual(logged.map((l) => [l.level, l.taskId, l.task, l.source]), [['error', floating, 'stray.floating', 'unhandledRejection']]);
    // And it still works.
    const next = await submit(url, queue, 'stray.slow');
    assert.equal((await waitForState(url, next, ['SUCCESS'])).result, 'ok');
  });

  it('a CPU task’s unhandled rejection fails that task; one left after its task ended does not touch the next task on the thread', async () => {
    const { url, queue, worker } = await start({ WORKER_CPU_THREADS: '1' });
    const floating = await submit(url, queue, 'stray.cpuFloating');
    const failed = await waitForState(url, floating, ['SUCCESS', 'FAILURE']);
    assert.deepEqual([failed.state, failed.error?.message], ['FAILURE', 'thread x']);
    // One thread: cpuSlow takes it right after cpuLate, and is running when cpuLate's rejection comes.
    const late = await submit(url, queue, 'stray.cpuLate');
    await waitFor('cpuLate to start', async () => (await ctx.store.get(late)) !== undefined);
    const slow = await submit(url, queue, 'stray.cpuSlow');
    assert.equal((await waitForState(url, late, ['SUCCESS', 'FAILURE'])).result, 'early');
    const done = await waitForState(url, slow, ['SUCCESS', 'FAILURE']);
    assert.deepEqual([done.state, done.result, done.error], ['SUCCESS', 'ok', null], 'the task that had the thread is not charged');
    await waitFor('the late rejection to be logged', () => lines(worker, /after it ended/).length === 1);
    assert.deepEqual(lines(worker, /after it ended/).map((l) => [l.level, l.taskId]), [['warn', late]]);
    assert.equal(worker.child.exitCode, null);
  });

  it('a crash outside any task: one JSON line, the running task finishes and is recorded once, then exit 1', async () => {
    const { url, queue, worker } = await start();
    const slow = await submit(url, queue, 'stray.slow');
    await waitFor('the task to start', async () => (await ctx.store.get(slow))?.state === 'STARTED');
    worker.child.kill('SIGUSR2');
    const exit = await worker.exited;
    assert.equal(exit.code, 1);
    const crash = lines(worker, /worker crashed/);
    assert.equal(crash.length, 1);
    assert.equal(crash[0]?.outcome, 'crash');
    assert.match(JSON.stringify(crash[0]?.err ?? crash[0]), /worker bug outside any task/);
    const row = await ctx.finalRow(slow);
    assert.deepEqual([row.state, row.result, row.deliveries], ['SUCCESS', 'ok', 1], 'finished in the drain: not counted as a crash delivery');
    assert.equal((await ctx.queueDepth(queue)).messages, 0, 'acked');
  });
});
