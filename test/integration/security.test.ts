/**
 * Browser-facing protections and limits against the real services: CORS allowlist and
 * preflights, security headers, the keyless contract on loopback, argument and result size
 * limits, and no credential in any log line during a run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { createLogger } from '../../shared/src/core/logger.js';
import { CaptureTransport, TEST_AMQP_URL, TestContext, http, type GatewayHandle, type Task } from '../helpers/harness.js';

interface ErrorBody {
  error: { code: string; message: string };
}

const APP = 'https://app.example.com';
/** Where winston keeps the formatted line (triple-beam's MESSAGE). */
const MESSAGE = Symbol.for('message');

describe('CORS and security headers', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  let keyed: GatewayHandle;
  before(async () => {
    ctx = await TestContext.create();
    gw = await ctx.startGateway({ config: { corsOrigins: [APP, 'http://localhost:5173'] } });
    keyed = await ctx.startGateway({ config: { authMode: 'keys', corsOrigins: [APP] } });
  });
  after(async () => {
    await ctx.cleanup();
  });

  const preflight = (base: string, origin: string): Promise<Response> =>
    fetch(`${base}/api/v1/tasks/demo.add`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });

  it('answers a preflight from an allowed origin with the CORS headers', async () => {
    const res = await preflight(gw.url, APP);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(res.headers.get('access-control-allow-headers') ?? '', /Authorization/i);
    assert.equal(res.headers.get('access-control-max-age'), '600');
    // Preflights carry no credentials: with AUTH_MODE=keys they are answered before authentication.
    const keyedRes = await preflight(keyed.url, APP);
    assert.equal(keyedRes.status, 204);
    assert.equal(keyedRes.headers.get('access-control-allow-origin'), APP);
  });

  it('refuses a preflight from another origin: 403 and no CORS headers', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.com.evil.example', 'null']) {
      const res = await preflight(gw.url, origin);
      assert.equal(res.status, 403, origin);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      assert.equal(((await res.json()) as ErrorBody).error.code, 'ORIGIN_NOT_ALLOWED');
    }
  });

  it('puts CORS headers on answers to allowed origins (errors included) and none on others', async () => {
    const ok = await http<Task>(`${gw.url}/api/v1/tasks/00000000-0000-0000-0000-000000000000`, { headers: { origin: APP } });
    assert.equal(ok.status, 404);
    assert.equal(ok.headers.get('access-control-allow-origin'), APP);
    assert.match(ok.headers.get('access-control-expose-headers') ?? '', /Retry-After/);
    const unauthorised = await http(`${keyed.url}/api/v1/tasks/demo.add`, { json: {}, headers: { origin: APP } });
    assert.equal(unauthorised.status, 401);
    assert.equal(unauthorised.headers.get('access-control-allow-origin'), APP, 'the app can read why it was refused');
    const other = await http(`${gw.url}/api/v1/tasks/00000000-0000-0000-0000-000000000000`, { headers: { origin: 'https://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  it('sends security headers (helmet) on API answers and everything else', async () => {
    for (const path of ['/healthz', '/api/v1/tasks/00000000-0000-0000-0000-000000000000', '/dashboard/', '/no-such-route', '/metrics']) {
      const res = await http(`${gw.url}${path}`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN', path);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/, path);
      assert.doesNotMatch(res.headers.get('content-security-policy') ?? '', /upgrade-insecure-requests/, path);
      assert.equal(res.headers.get('x-powered-by'), null);
      assert.equal(res.headers.get('referrer-policy'), 'same-origin', path);
    }
  });
});

describe('without AUTH_MODE on loopback: the keyless contract is unchanged', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  let queue: string;
  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('open');
    gw = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('submits, waits and reads without any key, and sends no rate-limit headers', async () => {
    const res = await http<Task>(`${gw.url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [2, 3], options: { queue } } });
    assert.equal(res.status, 200);
    assert.equal(res.body.result, 5);
    assert.equal(res.headers.get('ratelimit'), null);
    const read = await http<Task>(`${gw.url}/api/v1/tasks/${res.body.id}`);
    assert.equal(read.status, 200);
    assert.equal((await http(`${gw.url}/metrics`)).status, 200);
    const operator = (await http(`${gw.url}/api/v1/dead-letters`)).status;
    assert.ok(![401, 403].includes(operator), `operator routes are open without AUTH_MODE (got ${operator})`);
  });
});

describe('size limits', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  let queue: string;
  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('limits');
    gw = await ctx.startGateway({ config: { maxArgsBytes: 1024 } });
    await ctx.startWorker({ queues: [queue], maxResultBytes: 512 });
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('413 ARGUMENTS_TOO_LARGE for args + kwargs over GATEWAY_MAX_ARGS (the body is under GATEWAY_MAX_BODY)', async () => {
    for (const body of [{ args: ['x'.repeat(1100)] }, { args: ['x'.repeat(600)], kwargs: { y: 'y'.repeat(600) } }]) {
      const res = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.echo`, { json: { ...body, options: { queue } } });
      assert.equal(res.status, 413);
      assert.equal(res.body.error.code, 'ARGUMENTS_TOO_LARGE');
      assert.match(res.body.error.message, /GATEWAY_MAX_ARGS/);
    }
    const fits = await http<Task>(`${gw.url}/api/v1/tasks/demo.echo`, { json: { args: ['x'.repeat(900)], options: { queue } } });
    assert.equal(fits.status, 202);
  });

  it('a result over WORKER_MAX_RESULT fails the task with ResultTooLargeError instead of being stored', async () => {
    // demo.echo returns its arguments: 800 bytes of args make a result over the worker's 512.
    const small = await http<Task>(`${gw.url}/api/v1/tasks/demo.echo?wait=10`, { json: { args: ['a'.repeat(300)], options: { queue } } });
    assert.equal(small.body.state, 'SUCCESS');
    const big = await http<Task>(`${gw.url}/api/v1/tasks/demo.echo?wait=10`, { json: { args: ['b'.repeat(800)], options: { queue } } });
    assert.equal(big.status, 200);
    assert.equal(big.body.state, 'FAILURE');
    assert.equal(big.body.error?.type, 'ResultTooLargeError');
    assert.match(big.body.error?.message ?? '', /WORKER_MAX_RESULT/);
    const stored = await ctx.finalRow(big.body.id);
    assert.equal(stored?.state, 'FAILURE');
    assert.equal(stored?.result, null, 'the oversized result is not stored');
  });
});

describe('no credential in the logs', () => {
  it('a run with passwords in AMQP_URL and API keys in requests logs neither', async () => {
    const capture = new CaptureTransport();
    const logger = createLogger({ service: 'test', level: 'debug', json: true, transports: [capture] });
    const ctx = await TestContext.create();
    try {
      const unreachablePassword = 'n0t-th3-r34l-p4ss';
      const realPassword = new URL(TEST_AMQP_URL).password;
      // The first node is down: the broker logs that it retries there, naming the URL.
      const deadNode = `amqp://celerity:${unreachablePassword}@127.0.0.1:1`;
      const queue = ctx.queue('logs');
      const gw = await ctx.startGateway({ logger, config: { amqpUrls: [deadNode, TEST_AMQP_URL], authMode: 'keys' } });
      await ctx.startWorker({ queues: [queue], logger });
      const key = await new ApiKeyStore(ctx.pool).create({ name: 'logged', scopes: 'demo.*,tasks:read' });
      const secret = key.secret.slice(17);
      const ok = await http<Task>(`${gw.url}/api/v1/tasks/demo.fail?wait=10`, {
        json: { args: ['boom'], options: { queue } },
        headers: { authorization: `Bearer ${key.secret}` },
      });
      assert.equal(ok.status, 200);
      const bad = await http(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [1, 2] }, headers: { authorization: `Bearer ${key.secret}x` } });
      assert.equal(bad.status, 401);
      // The logger must redact credentials however they are logged.
      logger.warn(`connecting to ${deadNode} with Authorization: Bearer ${key.secret}`, { headers: { authorization: `Bearer ${key.secret}` }, apiKey: key.secret });
      await new Promise((resolve) => setImmediate(resolve));
      const written = capture.entries.map((e) => String((e as Record<symbol, unknown>)[MESSAGE]));
      assert.ok(written.length > 5, `captured ${written.length} lines`);
      assert.ok(written.some((line) => line.includes('127.0.0.1:1')), 'the dead node was logged (redacted)');
      for (const line of written) {
        assert.ok(!line.includes(unreachablePassword), `password leaked: ${line}`);
        assert.ok(!line.includes(`:${realPassword}@`), `password leaked: ${line}`);
        assert.ok(!line.includes(secret), `API key leaked: ${line}`);
      }
    } finally {
      await ctx.cleanup();
    }
  });
});
