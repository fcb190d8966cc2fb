/** Two gateway processes side by side: each receives only its own replies. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { TestContext, TEST_AMQP_URL, TEST_DATABASE_URL, http, type Task } from '../helpers/harness.js';
import { CELERITY_CLI, DEMO_APP } from '../helpers/demo.js';


/** Starts `celerity gateway --app <demo app>` on a free port; resolves with its URL once it listens. */
async function spawnGateway(schema: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CELERITY_CLI, 'gateway', '--app', DEMO_APP], {
    env: { ...process.env, AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema, GATEWAY_PORT: '0', LOG_LEVEL: 'info', GATEWAY_ALLOWED_QUEUES: 'test.*' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${stderr}`)), 20_000);
    lines.on('line', (line) => {
      const match = /gateway listening on (http:\/\/[\d.]+:\d+)/.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${stderr}`)));
  });
  return { child, url };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

describe('several gateways', () => {
  let ctx: TestContext;
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    const codes = await Promise.all(children.splice(0).map(stop));
    await ctx.cleanup();
    // SIGTERM is a graceful shutdown: both processes exit 0.
    assert.deepEqual(codes, codes.map(() => 0));
  });

  it('two gateway processes each get their own replies', async () => {
    const queue = ctx.queue('shared');
    await ctx.startWorker({ queues: [queue], concurrency: 32 });
    const one = await spawnGateway(ctx.schema);
    children.push(one.child);
    const two = await spawnGateway(ctx.schema);
    children.push(two.child);
    const call = (url: string, i: number): Promise<{ i: number; status: number; body: Task }> =>
      http<Task>(`${url}/api/v1/tasks/demo.add?wait=20`, { json: { args: [i, 1000], options: { queue } } }).then((r) => ({ i, ...r }));
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => call(i % 2 === 0 ? one.url : two.url, i)));
    for (const r of results) {
      assert.equal(r.status, 200, `request ${r.i} got its reply`);
      assert.equal(r.body.result, r.i + 1000, `request ${r.i} got its own result`);
    }
    // Every wait ended through a reply on the right gateway, not by polling the store: each
    // gateway counts exactly its own 30 RPCs.
    for (const g of [one, two]) {
      const text = (await http<string>(`${g.url}/metrics`)).body;
      assert.match(text, /celerity_task_rpc_duration_seconds_count\{[^}]*task="demo.add"[^}]*\} 30\b/);
    }
  });

  it('a GET long-poll on one gateway sees a task submitted through the other', async () => {
    const queue = ctx.queue('cross');
    await ctx.startWorker({ queues: [queue] });
    const one = await spawnGateway(ctx.schema);
    children.push(one.child);
    const { url: two } = await ctx.startGateway();
    const submitted = await http<Task>(`${one.url}/api/v1/tasks/demo.sleep`, { json: { args: [0.5], options: { queue } } });
    assert.equal(submitted.status, 202);
    const polled = await http<Task>(`${two}/api/v1/tasks/${submitted.body.id}?wait=10`);
    assert.equal(polled.body.state, 'SUCCESS');
  });

  it('a GET ?wait= on another gateway is answered by the store notification, not a poll', async () => {
    const queue = ctx.queue('notify');
    await ctx.startWorker({ queues: [queue] });
    const { url: one } = await ctx.startGateway();
    // Gateway two polls the store once when the wait starts and then not for two minutes: only
    // the LISTEN/NOTIFY path can tell it within the wait that the task finished.
    const { url: two } = await ctx.startGateway({ waitPollMs: { min: 120_000, max: 120_000 } });
    const submitted = await http<Task>(`${one}/api/v1/tasks/demo.sleep`, { json: { args: [2], options: { queue } } });
    assert.equal(submitted.status, 202);
    const before = await ctx.store.get(submitted.body.id);
    const polled = await http<Task>(`${two}/api/v1/tasks/${submitted.body.id}?wait=30`);
    assert.notEqual(before?.state, 'SUCCESS', 'the task was still running when the wait began');
    assert.equal(polled.status, 200);
    assert.equal(polled.body.state, 'SUCCESS');
    assert.equal(polled.body.result, 2);
  });
});
