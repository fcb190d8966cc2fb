/**
 * The worker's HTTP endpoints with fake dependencies: /readyz follows the broker, the database
 * and the consumer; /metrics takes METRICS_TOKEN or an admin key once either is configured,
 * while /healthz and /readyz stay open.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { createRegistry } from '../../shared/src/core/metrics.js';
import { type ApiKeyInfo } from '../../shared/src/auth/api-keys.js';
import { WorkerMetrics } from '../../worker/src/metrics.js';
import { serverPort, startMetricsServer, type MetricsGuard, type WorkerReadiness } from '../../worker/src/metrics-server.js';

const TOKEN = 'a-metrics-token-of-24-ch';
const ADMIN_KEY = 'cel_000000000001_admin';
const PLAIN_KEY = 'cel_000000000002_plain';

function keyInfo(admin: boolean): ApiKeyInfo {
  return { id: admin ? '000000000001' : '000000000002', name: admin ? 'ops' : 'web', scopes: { admin, read: true, submit: ['*'] }, ratePerMinute: null, createdAt: new Date(), revokedAt: null };
}

const fakeKeys: NonNullable<MetricsGuard['keys']> = {
  verify: (token) => Promise.resolve(token === ADMIN_KEY ? keyInfo(true) : token === PLAIN_KEY ? keyInfo(false) : undefined),
};

const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(readiness: Partial<WorkerReadiness> = {}, guard?: MetricsGuard): Promise<string> {
  const { registry } = new WorkerMetrics(createRegistry('worker', false));
  const server = await startMetricsServer({
    registry,
    health: () => ({ ok: true, state: 'RUNNING', inFlight: 0 }),
    readiness: { broker: () => true, consuming: () => true, database: () => Promise.resolve(), ...readiness },
    ...(guard ? { guard } : {}),
    port: 0,
    host: '127.0.0.1',
  });
  servers.push(server);
  return `http://127.0.0.1:${serverPort(server)}`;
}

async function get(url: string, token?: string): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

describe('worker HTTP: /readyz', () => {
  it('is 200 when the broker, the database and the consumer are all up', async () => {
    const base = await serve();
    const res = await get(`${base}/readyz`);
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { status: 'ready', broker: 'up', database: 'up', consuming: true });
  });

  const down: [string, Partial<WorkerReadiness>, Record<string, unknown>][] = [
    ['the broker is disconnected', { broker: () => false }, { broker: 'down' }],
    ['the consumer is not subscribed', { consuming: () => false }, { consuming: false }],
    ['the database refuses', { database: () => Promise.reject(new Error('ECONNREFUSED')) }, { database: 'down' }],
    ['the database does not answer in time', { database: () => new Promise<void>(() => undefined) }, { database: 'down' }],
  ];
  for (const [what, readiness, expected] of down) {
    it(`is 503 when ${what}`, async () => {
      const base = await serve(readiness);
      const res = await get(`${base}/readyz`);
      assert.equal(res.status, 503);
      const body = JSON.parse(res.body) as Record<string, unknown>;
      assert.equal(body.status, 'not ready');
      for (const [field, value] of Object.entries(expected)) assert.equal(body[field], value, field);
    });
  }

  it('answers 404 with the API error body for other paths and methods', async () => {
    const base = await serve();
    const res = await get(`${base}/nope`);
    assert.equal(res.status, 404);
    assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, 'ROUTE_NOT_FOUND');
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 404);
  });
});

describe('worker HTTP: who may read /metrics', () => {
  it('without a token or keys, /metrics is open', async () => {
    const base = await serve();
    const res = await get(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.body, /celerity_worker_tasks_total/);
  });

  it('with METRICS_TOKEN, /metrics needs it as a bearer token; the probes stay open', async () => {
    const base = await serve({}, { token: TOKEN });
    const none = await get(`${base}/metrics`);
    assert.equal(none.status, 401);
    assert.equal((JSON.parse(none.body) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    const wrong = await get(`${base}/metrics`, `${TOKEN}x`);
    assert.equal(wrong.status, 401);
    assert.equal((JSON.parse(wrong.body) as { error: { code: string } }).error.code, 'INVALID_API_KEY');
    const right = await get(`${base}/metrics`, TOKEN);
    assert.equal(right.status, 200);
    assert.match(right.body, /celerity_worker_tasks_total/);
    assert.equal((await get(`${base}/healthz`)).status, 200);
    assert.equal((await get(`${base}/readyz`)).status, 200);
  });

  it('with API keys, an admin key reads /metrics, another key gets 403, the token still works', async () => {
    const base = await serve({}, { token: TOKEN, keys: fakeKeys });
    assert.equal((await get(`${base}/metrics`, ADMIN_KEY)).status, 200);
    const plain = await get(`${base}/metrics`, PLAIN_KEY);
    assert.equal(plain.status, 403);
    assert.equal((JSON.parse(plain.body) as { error: { code: string } }).error.code, 'FORBIDDEN');
    assert.equal((await get(`${base}/metrics`, TOKEN)).status, 200);
    assert.equal((await get(`${base}/metrics`)).status, 401);
  });

  it('a key store that fails answers 500, and the server keeps serving', async () => {
    const base = await serve({}, { keys: { verify: () => Promise.reject(new Error('database down')) } });
    const failed = await get(`${base}/metrics`, ADMIN_KEY);
    assert.equal(failed.status, 500);
    assert.doesNotMatch(failed.body, /database down/, 'the error text stays in the log');
    assert.equal((await get(`${base}/healthz`)).status, 200);
  });
});
