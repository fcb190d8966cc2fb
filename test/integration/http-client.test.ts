/**
 * `celerity/http` against a real gateway and worker: submit (positional and one-object tasks),
 * wait, get, the gateway's error codes as typed errors, `AbortSignal`, and CORS for a browser
 * page on another origin (the preflight the client's requests need).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CelerityHttpError, createHttpClient, type HttpErrorCode } from '../../shared/src/http/index.js';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { TestContext, type GatewayHandle } from '../helpers/harness.js';

import type * as demo from '../../examples/demo/tasks.js';

type DemoApp = typeof demo;

const PAGE = 'http://localhost:5173';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

describe('HTTP client (celerity/http)', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  let queue: string;
  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('http');
    await ctx.startWorker({ queues: [queue] });
    gw = await ctx.startGateway({ config: { corsOrigins: [PAGE] } });
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('submits, waits and reads, typed from the app', async () => {
    const api = createHttpClient<DemoApp>({ baseUrl: gw.url });
    const submitted = await api.submit('demo.add', [2, 3], {}, { queue });
    assert.equal(submitted.name, 'demo.add');
    assert.equal(submitted.state, 'PENDING');
    const done = await api.wait(submitted, { timeoutS: 30 });
    assert.equal(done.state, 'SUCCESS');
    const sum: number | null | undefined = done.result;
    assert.equal(sum, 5);
    const read = await api.get(submitted.id);
    assert.equal(read.id, submitted.id);
    assert.equal(read.result, 5);

    // A one-object task: its input goes as kwargs; waitS answers with the finished task.
    const greeted = await api.submit('demo.greet', { name: 'Ada', shout: true }, { queue, waitS: 30 });
    assert.equal(greeted.state, 'SUCCESS');
    assert.deepEqual(greeted.result, { greeting: 'HELLO, ADA!' });
    assert.deepEqual(greeted.kwargs, { name: 'Ada', shout: true });
  });

  it('follows a task\'s events to its final state, and revokes through the gateway', async () => {
    const api = createHttpClient<DemoApp>({ baseUrl: gw.url });
    const task = await api.submit('demo.progress', [3], { stepMs: 50 }, { queue });
    const seen: { event: string; id: string | undefined; data: unknown }[] = [];
    for await (const event of api.events(task)) seen.push({ event: event.event, id: event.id, data: event.data });
    const last = seen.at(-1);
    assert.equal(last?.event, 'state');
    assert.equal((last?.data as { state: string }).state, 'SUCCESS');
    assert.ok(seen.filter((e) => e.event === 'progress').length >= 1, JSON.stringify(seen.map((e) => e.event)));
    assert.ok(seen.every((e) => typeof e.id === 'string'), 'every event carries an id to resume from');
    // Resumed after the final state: nothing more, and the iterator ends.
    const again = [];
    for await (const event of api.events(task, { lastEventId: last?.id })) again.push(event);
    assert.deepEqual(again, []);

    const parked = await api.submit('demo.add', [1, 1], {}, { queue: ctx.queue('http-parked') });
    const revoked = await api.revoke(parked);
    assert.equal(revoked.state, 'REVOKED');
  });

  it('resolves a failed task with its error, and times a wait out with the task as it stands', async () => {
    const api = createHttpClient<DemoApp>({ baseUrl: gw.url, pollS: 1 });
    const failed = await api.wait(await api.submit('demo.fail', ['on purpose'], {}, { queue }), { timeoutS: 30 });
    assert.equal(failed.state, 'FAILURE');
    assert.equal(failed.error?.message, 'on purpose');
    const slow = await api.submit('demo.sleep', [60], {}, { queue });
    const stillRunning = await api.wait(slow, { timeoutS: 1.5 });
    assert.ok(!['SUCCESS', 'FAILURE', 'REVOKED'].includes(stillRunning.state), stillRunning.state);
  });

  it('rejects with the gateway\'s stable codes as typed errors', async () => {
    const api = createHttpClient<DemoApp>({ baseUrl: gw.url });
    const invalid = await rejection(api.submit('demo.add', ['two' as unknown as number, 3], {}, { queue }));
    assert.ok(invalid instanceof CelerityHttpError);
    const code: HttpErrorCode = invalid.code;
    assert.equal(code, 'INVALID_ARGUMENTS');
    assert.equal(invalid.status, 400);
    assert.match(invalid.message, /args\.0/);

    const untyped = createHttpClient({ baseUrl: gw.url });
    const unknown = await rejection(untyped.submit('demo.nope', []));
    assert.ok(unknown instanceof CelerityHttpError && unknown.code === 'UNKNOWN_TASK' && unknown.status === 404);
    const missing = await rejection(api.get('00000000-0000-4000-8000-000000000000'));
    assert.ok(missing instanceof CelerityHttpError && missing.code === 'TASK_NOT_FOUND');

    // Nothing listens there: no answer is NETWORK_ERROR, status 0.
    const nowhere = createHttpClient<DemoApp>({ baseUrl: 'http://127.0.0.1:1' });
    const network = await rejection(nowhere.get('x'));
    assert.ok(network instanceof CelerityHttpError && network.code === 'NETWORK_ERROR' && network.status === 0);
  });

  it('sends the API key as a Bearer token', async () => {
    const keyed = await ctx.startGateway({ config: { authMode: 'keys' } });
    const key = await new ApiKeyStore(ctx.pool).create({ name: 'page', scopes: 'demo.*,tasks:read' });
    const api = createHttpClient<DemoApp>({ baseUrl: keyed.url, apiKey: key.secret });
    const done = await api.submit('demo.add', [1, 1], {}, { queue, waitS: 30 });
    assert.equal(done.result, 2);
    const anonymous = await rejection(createHttpClient<DemoApp>({ baseUrl: keyed.url }).get(done.id));
    assert.ok(anonymous instanceof CelerityHttpError && anonymous.code === 'UNAUTHENTICATED' && anonymous.status === 401);
    const outsideScope = await rejection(createHttpClient({ baseUrl: keyed.url, apiKey: key.secret }).submit('other.task', []));
    assert.ok(outsideScope instanceof CelerityHttpError && outsideScope.code === 'FORBIDDEN');
  });

  it('stops a request when its AbortSignal fires, with the signal\'s reason', async () => {
    const api = createHttpClient<DemoApp>({ baseUrl: gw.url });
    const slow = await api.submit('demo.sleep', [30], {}, { queue });
    const controller = new AbortController();
    const waiting = api.wait(slow, { timeoutS: 30, signal: controller.signal });
    // Abort once the long-poll is held by the gateway (its in-flight waits gauge would say so;
    // the client cannot see it, so abort on the next turn: either way the wait must end now).
    setImmediate(() => controller.abort());
    const err = await rejection(waiting);
    assert.equal((err as Error).name, 'AbortError');
    const reason = new Error('page closed');
    const already = AbortSignal.abort(reason);
    assert.equal(await rejection(api.submit('demo.add', [1, 2], {}, { queue, signal: already })), reason);
  });

  it('CORS: a page on an allowed origin may send the client\'s headers; the answers expose Location', async () => {
    const preflight = await fetch(`${gw.url}/api/v1/tasks/demo.add`, {
      method: 'OPTIONS',
      headers: { origin: PAGE, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), PAGE);
    const allowed = (preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const header of ['authorization', 'content-type', 'idempotency-key', 'last-event-id']) assert.ok(allowed.includes(header), header);
    // The events stream resumes with Last-Event-ID: a GET with that header is preflighted too.
    const events = await fetch(`${gw.url}/api/v1/tasks/x/events`, {
      method: 'OPTIONS',
      headers: { origin: PAGE, 'access-control-request-method': 'GET', 'access-control-request-headers': 'last-event-id' },
    });
    assert.equal(events.status, 204);
    const submitted = await fetch(`${gw.url}/api/v1/tasks/demo.add`, {
      method: 'POST',
      headers: { origin: PAGE, 'content-type': 'application/json' },
      body: JSON.stringify({ args: [1, 2], options: { queue } }),
    });
    assert.equal(submitted.status, 202);
    assert.equal(submitted.headers.get('access-control-allow-origin'), PAGE);
    assert.match(submitted.headers.get('access-control-expose-headers') ?? '', /Location/);
    const other = await fetch(`${gw.url}/api/v1/tasks/demo.add`, {
      method: 'OPTIONS',
      headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(other.status, 403);
  });
});
