/**
 * The gateway's doors a submit-only key, a cross-site page or a sloppy client could use,
 * against the real gateway, broker and database: reserved queue names, queues outside the
 * allowlist, cross-site and non-JSON submits, `+json` bodies, the rate counted in tasks, and
 * refused credentials logged with the client's address.
 */
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { TEST_AMQP_URL, TestContext, captureLogger, http, type CaptureTransport, type GatewayHandle, type Task } from '../helpers/harness.js';

interface ErrorBody {
  error: { code: string; message: string };
}

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** Whether an exchange of this name exists on the broker (passive declare). */
async function exchangeExists(name: string): Promise<boolean> {
  const connection = await amqp.connect(TEST_AMQP_URL);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    await channel.checkExchange(name);
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) return false;
    throw err;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function deleteExchange(name: string): Promise<void> {
  const connection = await amqp.connect(TEST_AMQP_URL);
  try {
    await (await connection.createChannel()).deleteExchange(name);
  } finally {
    await connection.close();
  }
}

describe('gateway doors (AUTH_MODE=keys)', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  let queue: string;
  let capture: CaptureTransport;
  let admin: string;
  let submitOnly: string;
  let withQueues: string;
  const APP = 'https://app.example.com';

  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('doors');
    const keys = new ApiKeyStore(ctx.pool);
    admin = (await keys.create({ name: 'ops', scopes: 'admin' })).secret;
    submitOnly = (await keys.create({ name: 'hook', scopes: 'demo.*,tasks:read' })).secret;
    withQueues = (await keys.create({ name: 'reports', scopes: `demo.*,tasks:read,queue:other.${ctx.suffix}.*` })).secret;
    const logged = captureLogger('gateway');
    capture = logged.capture;
    // No GATEWAY_ALLOWED_QUEUES here: only the app's queues, QUEUE_TYPES' and the keys' own.
    gw = await ctx.startGateway({ logger: logged.logger, config: { authMode: 'keys', corsOrigins: [APP], allowedQueues: [], queueTypes: { default: 'classic', perQueue: { [queue]: 'classic' } } } });
    await ctx.startWorker({ queues: [queue] });
  });
  after(async () => {
    await ctx.cleanup();
  });

  const submit = (key: string, name: string, body: object, query = ''): Promise<{ status: number; body: Task & ErrorBody }> =>
    http<Task & ErrorBody>(`${gw.url}/api/v1/tasks/${name}${query}`, { json: body, headers: bearer(key) });

  it('refuses reserved queue names (400) and leaves no broker object behind; admin countdowns still run', async () => {
    const reply = `celerity.reply.gateway.${randomUUID()}`;
    for (const reserved of ['celerity.delay', 'celerity.delay.1000', 'demo.dead', reply, 'celeryev', randomUUID(), 'amq.gen-x']) {
      for (const key of [submitOnly, admin]) {
        const res = await submit(key, 'demo.echo', { args: ['forged'], options: { queue: reserved } });
        assert.equal(res.status, 400, `${reserved}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'INVALID_QUEUE');
      }
    }
    assert.equal(await exchangeExists(reply), false, 'no durable exchange named for a reply queue');
    assert.equal((await ctx.queueDepth(reply)).exists, false);
    // The delay objects are intact: a countdown goes through them and runs.
    const delayed = await submit(admin, 'demo.add', { args: [2, 3], options: { queue, countdown: 1 } });
    assert.equal(delayed.status, 202, JSON.stringify(delayed.body));
    const done = await ctx.finalRow(delayed.body.id);
    assert.equal(done.state, 'SUCCESS');
    assert.equal(done.result, 5);
    // A batch names the index of the refused item.
    const batch = await http<ErrorBody>(`${gw.url}/api/v1/tasks`, {
      json: { tasks: [{ name: 'demo.echo', options: { queue } }, { name: 'demo.echo', options: { queue: 'demo.dead' } }] },
      headers: bearer(submitOnly),
    });
    assert.equal(batch.status, 400);
    assert.match(batch.body.error.message, /^tasks\[1\]: /);
  });

  it('accepts only the app\'s and configured queues, and those a key\'s queue: scopes name', async () => {
    const other = `other.${ctx.suffix}.a`;
    const refused = await submit(submitOnly, 'demo.echo', { options: { queue: other } });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 'INVALID_QUEUE');
    assert.equal((await ctx.queueDepth(other)).exists, false, 'nothing was declared for the refused queue');
    const own = await submit(submitOnly, 'demo.add', { args: [1, 1], options: { queue } }, '?wait=20');
    assert.equal(own.status, 200, 'a queue QUEUE_TYPES names is allowed');
    const scoped = await submit(withQueues, 'demo.echo', { options: { queue: other } });
    assert.equal(scoped.status, 202, JSON.stringify(scoped.body));
    await ctx.deleteQueueOnBroker(other);
    await deleteExchange(other);
  });

  it('refuses a cross-site submit (403) unless CORS_ORIGINS names the origin, and a non-JSON one (415)', async () => {
    const crossSite = { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' };
    const refused = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.echo`, { method: 'POST', body: '{}', headers: { ...crossSite, ...bearer(admin) } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'ORIGIN_NOT_ALLOWED');
    const allowed = await http<Task>(`${gw.url}/api/v1/tasks/demo.echo`, {
      json: { options: { queue } },
      headers: { origin: APP, 'sec-fetch-site': 'cross-site', ...bearer(admin) },
    });
    assert.equal(allowed.status, 202);
    const plain = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.echo`, { method: 'POST', headers: { 'content-type': 'text/plain', ...bearer(admin) } });
    assert.equal(plain.status, 415);
    assert.equal(plain.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('parses application/*+json bodies, and answers 400 to a body that is not JSON', async () => {
    const body = JSON.stringify({ args: ['hello', 42], options: { queue } });
    const headers = { 'content-type': 'application/vnd.api+json', ...bearer(admin) };
    const res = await http<Task>(`${gw.url}/api/v1/tasks/demo.echo?wait=20`, { method: 'POST', body, headers });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.result, { args: ['hello', 42], kwargs: {} });
    const garbage = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.echo`, { method: 'POST', body: 'args=1', headers });
    assert.equal(garbage.status, 400);
    assert.equal(garbage.body.error.code, 'MALFORMED_JSON');
  });

  it('counts a key\'s rate in tasks: two batches of two under 2 a minute, the second is 429', async () => {
    const limited = (await new ApiKeyStore(ctx.pool).create({ name: 'two', scopes: 'demo.*', ratePerMinute: 2 })).secret;
    const batch = { tasks: [{ name: 'demo.add', args: [1, 2], options: { queue } }, { name: 'demo.add', args: [3, 4], options: { queue } }] };
    const first = await http(`${gw.url}/api/v1/tasks`, { json: batch, headers: bearer(limited) });
    assert.equal(first.status, 202);
    const second = await http<ErrorBody>(`${gw.url}/api/v1/tasks`, { json: batch, headers: bearer(limited) });
    assert.equal(second.status, 429);
    assert.equal(second.body.error.code, 'RATE_LIMITED');
    assert.ok(Number(second.headers.get('retry-after')) >= 1);
  });

  it('logs a refused key and a refused dashboard login with the client\'s address, and tells the caller no more', async () => {
    const res = await submit('cel_000000000000_notarealkeynotarealkeynotarealkeynotareal0', 'demo.echo', {});
    assert.equal(res.status, 401);
    const login = await fetch(`${gw.url}/dashboard/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: gw.url },
      body: 'key=cel_000000000000_wrong',
      redirect: 'manual',
    });
    assert.equal(login.status, 401);
    const refusals = capture.entries.filter((e) => /refused/.test(String(e.message)));
    assert.ok(refusals.some((e) => e.message === 'authentication refused' && /127\.0\.0\.1/.test(String(e.clientAddress))), JSON.stringify(refusals));
    assert.ok(refusals.some((e) => /dashboard login refused/.test(String(e.message)) && /127\.0\.0\.1/.test(String(e.clientAddress))));
  });
});

describe('gateway doors (AUTH_MODE=none, the open loopback default)', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  before(async () => {
    ctx = await TestContext.create();
    gw = await ctx.startGateway({ config: { allowedQueues: [] } });
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('refuses the cross-site body-less text/plain POST an HTML form would send (403), and any body-less non-JSON POST (415)', async () => {
    const form = { 'content-type': 'text/plain', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' };
    const res = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.echo`, { method: 'POST', headers: form });
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'ORIGIN_NOT_ALLOWED');
    const otherSites: Record<string, string>[] = [{ origin: 'null', 'content-type': 'application/json' }, { 'sec-fetch-site': 'same-site', 'content-type': 'application/json' }];
    for (const headers of otherSites) {
      assert.equal((await http(`${gw.url}/api/v1/tasks/demo.echo`, { method: 'POST', headers })).status, 403, JSON.stringify(headers));
    }
    const empty = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.echo`, { method: 'POST', headers: { 'content-type': 'text/plain' } });
    assert.equal(empty.status, 415);
    const bare = await http<ErrorBody>(`${gw.url}/api/v1/tasks`, { method: 'POST' });
    assert.equal(bare.status, 415);
  });

  it('refuses a squat of celerity.delay and demo.dead without any key', async () => {
    for (const reserved of ['celerity.delay', 'demo.dead']) {
      const res = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.echo`, { json: { options: { queue: reserved } } });
      assert.equal(res.status, 400, reserved);
      assert.equal(res.body.error.code, 'INVALID_QUEUE');
    }
  });
});
