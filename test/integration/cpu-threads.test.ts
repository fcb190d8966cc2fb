/**
 * CPU tasks on the worker's thread pool, against the real broker and database: their time
 * limits and `startedAt` count from when a thread takes them, never the wait for one; a
 * TypeScript app run under tsx (NODE_OPTIONS='--import tsx') runs its CPU tasks too, and one
 * whose threads cannot load it is refused at start-up, not task by task.
 */
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadApp, type LoadedApp } from '../../index.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitForState, type Task } from '../helpers/harness.js';
import { CELERITY_CLI } from '../helpers/demo.js';

const run = promisify(execFile);
const ROOT_ENTRY = new URL('../../index.js', import.meta.url).href;
const TSX = new URL('../../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).pathname;

const BUSY_MS = 600;
const APP = `
import { defineTask } from ${JSON.stringify(ROOT_ENTRY)};
// Holds its thread for ${BUSY_MS} ms of wall time, as a CPU-bound task does.
export const busy = defineTask({ name: 'cpu.busy', cpu: true, run() { const t = Date.now(); while (Date.now() - t < ${BUSY_MS}); return 'done'; } });
`;

const TS_APP = `
import { defineTask } from ${JSON.stringify(ROOT_ENTRY)};
interface Pair { a: number; b: number }
const sum = ({ a, b }: Pair): number => a + b;
export const square = defineTask({ name: 'ts.square', cpu: true, run: ([n]: unknown[]): number => (n as number) * (n as number) });
export const add = defineTask({ name: 'ts.add', run: ([a, b]: unknown[]): number => sum({ a: a as number, b: b as number }) });
`;

describe('CPU threads', () => {
  let dir: string;
  let app: LoadedApp;
  let ctx: TestContext;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'celerity-cpu-'));
    await writeFile(path.join(dir, 'tasks.mjs'), APP);
    await writeFile(path.join(dir, 'tasks.ts'), TS_APP);
    // As in a user's ESM project: tsx then loads tasks.ts as an ES module.
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
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

  it('time limits count execution: five tasks queued for one thread each get their whole limit, and startedAt is when the thread took them', async () => {
    const queue = ctx.queue('busy');
    const { url } = await ctx.startGateway({ tasks: app.tasks });
    await ctx.startWorker({ queues: [queue], tasks: app.tasks, appUrl: app.url, cpuThreads: 1 });
    // 5 × 0.6 s on one thread: the last waits 2.4 s for it, longer than its 1.5 s limit.
    const ids = await Promise.all(
      Array.from({ length: 5 }, async () => (await http<Task>(`${url}/api/v1/tasks/cpu.busy`, { json: { args: [], options: { queue, timeLimit: 1.5, softTimeLimit: 1.2 } } })).body.id),
    );
    const done = await Promise.all(ids.map((id) => waitForState(url, id, ['SUCCESS', 'FAILURE'])));
    assert.deepEqual(done.map((t) => [t.state, t.error?.type ?? null]), done.map(() => ['SUCCESS', null]));
    const rows = await Promise.all(ids.map((id) => ctx.finalRow(id)));
    assert.deepEqual(rows.map((r) => r.deliveries), [1, 1, 1, 1, 1]);
    const starts = rows.map((r) => r.startedAt?.getTime() ?? 0).sort((a, b) => a - b);
    for (let i = 1; i < starts.length; i++) {
      // One thread: each took it once the one before had run its full time.
      assert.ok((starts[i] ?? 0) - (starts[i - 1] ?? 0) >= BUSY_MS - 5, `start ${i} came ${(starts[i] ?? 0) - (starts[i - 1] ?? 0)} ms after the one before`);
    }
  });

  it("a TypeScript app under NODE_OPTIONS='--import tsx' runs its CPU tasks in threads, and its in-process tasks", async () => {
    const queue = ctx.queue('tsx');
    const tasks = [{ name: 'ts.square', queue }, { name: 'ts.add', queue }];
    const { url } = await ctx.startGateway({ externalTasks: tasks, tasks: [] });
    await ctx.spawnWorker([queue], { NODE_OPTIONS: `--import ${TSX}` }, path.join(dir, 'tasks.ts'));
    const square = await http<Task>(`${url}/api/v1/tasks/ts.square`, { json: { args: [7], options: { queue } } });
    const add = await http<Task>(`${url}/api/v1/tasks/ts.add`, { json: { args: [2, 3], options: { queue } } });
    const [squared, added] = await Promise.all([waitForState(url, square.body.id, ['SUCCESS', 'FAILURE']), waitForState(url, add.body.id, ['SUCCESS', 'FAILURE'])]);
    assert.deepEqual([squared.state, squared.result, squared.error], ['SUCCESS', 49, null]);
    assert.deepEqual([added.state, added.result], ['SUCCESS', 5]);
  });

  it('a worker whose threads cannot load the app (TypeScript, tsx out of reach) refuses to start, saying why and what to do', async () => {
    // Run from the fixture folder: the main thread has tsx by path, but no tsx can be found from the app's folder.
    const env = { ...process.env, NODE_OPTIONS: `--import ${TSX}`, AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: ctx.schema };
    const refused = await run(process.execPath, [CELERITY_CLI, 'worker', '--app', path.join(dir, 'tasks.ts'), '--queues', ctx.queue('never')], { env, cwd: dir }).then(
      () => assert.fail('the worker started'),
      (err: { code: number; stderr: string; stdout: string }) => err,
    );
    assert.equal(refused.code, 2, 'exit 2: the app as given cannot run (configuration or input)');
    assert.match(refused.stderr, /tasks\.ts: the CPU tasks \(ts\.square\) run on worker threads, which cannot load the app: .*Unknown file extension/);
    assert.match(refused.stderr, /npm install -D tsx/);
    assert.doesNotMatch(refused.stdout, /consuming/);
  });
});
