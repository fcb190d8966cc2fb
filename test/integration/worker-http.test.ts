/**
 * The worker's HTTP endpoints as a real worker process serves them: bound beyond loopback
 * (WORKER_METRICS_HOST=0.0.0.0) /metrics needs METRICS_TOKEN while /healthz and /readyz stay
 * open; without any authentication such an address stops the process at start.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import { TestContext, TEST_AMQP_URL, TEST_DATABASE_URL, waitFor } from '../helpers/harness.js';
import { CELERITY_CLI, DEMO_APP } from '../helpers/demo.js';

const run = promisify(execFile);
const WORKER = [CELERITY_CLI, 'worker', '--app', DEMO_APP];
const TOKEN = 'worker-metrics-token-0123456789';

/** A TCP port free right now on every address (the worker is then started on it). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '0.0.0.0');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `celerity worker --app <demo app>` with its HTTP server on a free port (the harness's
 * spawnWorker turns that server off) and resolves once it consumes; stopped by cleanup.
 */
async function spawnWorker(ctx: TestContext, queue: string, env: Record<string, string>): Promise<number> {
  const port = await freePort();
  const child = spawn(process.execPath, [CELERITY_CLI, 'worker', '--app', DEMO_APP, '--queues', queue, '--metrics-port', String(port)], {
    env: { ...process.env, AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: ctx.schema, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  ctx.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor('the worker process to consume', () => {
    if (child.exitCode !== null) throw new Error(`worker process exited early:\n${output}`);
    return output.includes('"consuming"') && output.includes('worker metrics on');
  }, { timeoutMs: 30_000 });
  return port;
}

async function get(url: string, token?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text() };
}

/** An address of this machine that is not loopback, if it has one. */
function externalAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

describe('worker HTTP endpoints (a worker process)', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('on 0.0.0.0 with METRICS_TOKEN: /metrics refuses without the token and serves with it; probes stay open', async () => {
    const queue = ctx.queue('http');
    const port = await spawnWorker(ctx, queue, { WORKER_METRICS_HOST: '0.0.0.0', METRICS_TOKEN: TOKEN, AUTH_MODE: '' });
    const hosts = ['127.0.0.1', ...[externalAddress()].filter((a): a is string => a !== undefined)];
    for (const host of hosts) {
      const base = `http://${host}:${port}`;
      const refused = await get(`${base}/metrics`);
      assert.equal(refused.status, 401, host);
      assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
      assert.equal((await get(`${base}/metrics`, 'not-the-token-at-all')).status, 401, host);
      const served = await get(`${base}/metrics`, TOKEN);
      assert.equal(served.status, 200, host);
      assert.match(served.body, new RegExp(`celerity_worker_concurrency\\{queue="${queue.replace(/\./g, '\\.')}"`));
      assert.equal((await get(`${base}/healthz`)).status, 200, host);
      const ready = await get(`${base}/readyz`);
      assert.equal(ready.status, 200, host);
      assert.deepEqual(JSON.parse(ready.body), { status: 'ready', broker: 'up', database: 'up', consuming: true });
    }
  });

  it('on another loopback address (127.0.0.2) without a token: /metrics is open, as on 127.0.0.1', async () => {
    const port = await spawnWorker(ctx, ctx.queue('lo2'), { WORKER_METRICS_HOST: '127.0.0.2', METRICS_TOKEN: '', AUTH_MODE: '' });
    assert.equal((await get(`http://127.0.0.2:${port}/metrics`)).status, 200);
    assert.equal((await get(`http://127.0.0.2:${port}/readyz`)).status, 200);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'bound to 127.0.0.2 only');
  });

  it('a non-loopback address without authentication stops the process, naming the variable or the flag', async () => {
    const env = { ...process.env, AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, METRICS_TOKEN: '', AUTH_MODE: '', AUTH_DISABLED: '' };
    const cases: [string[], Record<string, string>, RegExp][] = [
      [[], { WORKER_METRICS_HOST: '0.0.0.0' }, /invalid configuration: WORKER_METRICS_HOST is "0\.0\.0\.0".*METRICS_TOKEN/],
      [['--metrics-host', '0.0.0.0'], {}, /invalid configuration: --metrics-host is "0\.0\.0\.0"/],
      [[], { WORKER_METRICS_HOST: '0.0.0.0', METRICS_TOKEN: 'short' }, /invalid configuration: METRICS_TOKEN must be at least 16 characters/],
    ];
    for (const [args, extra, message] of cases) {
      const failure = await run(process.execPath, [...WORKER, ...args], { env: { ...env, ...extra }, timeout: 30_000 }).then(
        () => assert.fail('the worker started'),
        (err: unknown) => err as { code: number; stderr: string },
      );
      assert.equal(failure.code, 2);
      assert.match(failure.stderr, message);
    }
  });
});
