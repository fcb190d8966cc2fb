/**
 * AUTH_MODE=keys against the real services: 401 / 403 / 404-for-others / 429, revocation
 * through the CLI taking effect at once, the dashboard login cookie (and CSRF), /metrics.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { TEST_DATABASE_URL, TestContext, http, waitFor, type GatewayHandle, type Task } from '../helpers/harness.js';
import { CELERITY_CLI } from '../helpers/demo.js';

const run = promisify(execFile);

interface ErrorBody {
  error: { code: string; message: string };
}

/** Runs `celerity keys ...` against this test's schema, as an operator would. */
async function keysCli(schema: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CELERITY_CLI, 'keys', ...args], {
      env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function createKey(schema: string, name: string, scopes: string, rate?: number): Promise<{ id: string; key: string }> {
  const res = await keysCli(schema, ['create', '--name', name, '--scopes', scopes, '--json', ...(rate ? ['--rate', String(rate)] : [])]);
  assert.equal(res.code, 0, res.stderr);
  const parsed = JSON.parse(res.stdout) as { id: string; key: string };
  assert.match(parsed.key, /^cel_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
  return parsed;
}

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

describe('API keys (AUTH_MODE=keys)', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  let queue: string;
  let admin: { id: string; key: string };
  let alice: { id: string; key: string };
  let bob: { id: string; key: string };
  let submitOnly: { id: string; key: string };

  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('auth');
    admin = await createKey(ctx.schema, 'ops', 'admin');
    alice = await createKey(ctx.schema, 'alice', 'demo.*,tasks:read');
    bob = await createKey(ctx.schema, 'bob', 'demo.*,tasks:read');
    submitOnly = await createKey(ctx.schema, 'hook', 'demo.add');
    gw = await ctx.startGateway({ config: { authMode: 'keys', metricsToken: 'metrics-token-0123456789' } });
    await ctx.startWorker({ queues: [queue] });
  });
  after(async () => {
    await ctx.cleanup();
  });

  const submit = (key: string | undefined, name: string, body: object, query = ''): Promise<{ status: number; headers: Headers; body: Task & ErrorBody }> =>
    http<Task & ErrorBody>(`${gw.url}/api/v1/tasks/${name}${query}`, {
      json: { ...body, options: { queue } },
      ...(key ? { headers: bearer(key) } : {}),
    });

  it('401 UNAUTHENTICATED with WWW-Authenticate: Bearer when no key is sent', async () => {
    const res = await submit(undefined, 'demo.add', { args: [1, 2] });
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, 'UNAUTHENTICATED');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    const read = await http<ErrorBody>(`${gw.url}/api/v1/tasks/00000000-0000-0000-0000-000000000000`);
    assert.equal(read.status, 401);
  });

  it('401 INVALID_API_KEY for a wrong secret, an unknown id, garbage, and a non-Bearer scheme', async () => {
    const wrongSecret = `${alice.key.slice(0, 17)}${'A'.repeat(43)}`;
    for (const authorization of [`Bearer ${wrongSecret}`, `Bearer cel_000000000000_${'B'.repeat(43)}`, 'Bearer nonsense', 'Basic Zm9vOmJhcg==']) {
      const res = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [1, 2] }, headers: { authorization } });
      assert.equal(res.status, 401, authorization);
      assert.equal(res.body.error.code, 'INVALID_API_KEY');
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer .*invalid_token/);
    }
  });

  it('403 FORBIDDEN for a task outside the key\'s patterns', async () => {
    const res = await submit(submitOnly.key, 'demo.echo', { args: [1] });
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'FORBIDDEN');
    assert.match(res.body.error.message, /demo\.echo/);
  });

  it('403 for reading (and for ?wait=) without tasks:read; the submit itself is accepted', async () => {
    const accepted = await submit(submitOnly.key, 'demo.add', { args: [1, 2] });
    assert.equal(accepted.status, 202);
    const read = await http<ErrorBody>(`${gw.url}/api/v1/tasks/${accepted.body.id}`, { headers: bearer(submitOnly.key) });
    assert.equal(read.status, 403);
    assert.equal(read.body.error.code, 'FORBIDDEN');
    const waited = await submit(submitOnly.key, 'demo.add', { args: [1, 2] }, '?wait=5');
    assert.equal(waited.status, 403);
  });

  it('403 for operator routes (dead letters, anything unlisted) without admin; admin passes the gate', async () => {
    const denied = await http<ErrorBody>(`${gw.url}/api/v1/dead-letters?queue=demo`, { headers: bearer(alice.key) });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'FORBIDDEN');
    const adminRes = await http<ErrorBody>(`${gw.url}/api/v2/nothing`, { headers: bearer(admin.key) });
    assert.equal(adminRes.status, 404);
    assert.equal(adminRes.body.error.code, 'ROUTE_NOT_FOUND');
  });

  it("a key reads its own task; another key's task is 404 (also with ?wait=), exactly like an unknown id; admin reads all", async () => {
    const mine = await submit(alice.key, 'demo.fail', { args: ['secret detail of alice'] }, '?wait=10');
    assert.equal(mine.status, 200);
    assert.equal(mine.body.state, 'FAILURE');
    assert.equal(mine.body.error?.message, 'secret detail of alice');
    const own = await http<Task>(`${gw.url}/api/v1/tasks/${mine.body.id}`, { headers: bearer(alice.key) });
    assert.equal(own.status, 200);
    assert.equal(own.body.state, 'FAILURE');

    const unknown = await http<ErrorBody>(`${gw.url}/api/v1/tasks/00000000-0000-0000-0000-000000000000`, { headers: bearer(bob.key) });
    for (const path of [`/api/v1/tasks/${mine.body.id}`, `/api/v1/tasks/${mine.body.id}?wait=2`]) {
      const other = await http<ErrorBody>(`${gw.url}${path}`, { headers: bearer(bob.key) });
      assert.equal(other.status, 404, path);
      assert.equal(other.body.error.code, 'TASK_NOT_FOUND');
      assert.equal(other.body.error.message.replace(mine.body.id, 'ID'), unknown.body.error.message.replace('00000000-0000-0000-0000-000000000000', 'ID'));
      assert.ok(!JSON.stringify(other.body).includes('secret detail'), 'no error detail leaks');
    }
    const asAdmin = await http<Task>(`${gw.url}/api/v1/tasks/${mine.body.id}`, { headers: bearer(admin.key) });
    assert.equal(asAdmin.status, 200);
    assert.equal(asAdmin.body.error?.message, 'secret detail of alice');
  });

  it('the owner survives any write order: a worker row written before the PENDING row gets the owner', async () => {
    const id = '11111111-2222-4333-8444-555555555555';
    await ctx.store.record({ id, name: 'demo.add', queue, state: 'SUCCESS', result: 3, finishedAt: new Date() });
    await ctx.store.record({ id, name: 'demo.add', queue, state: 'PENDING', args: [1, 2], createdAt: new Date(), owner: alice.id });
    // The worker writes again (a redelivery) without an owner: the owner stays.
    await ctx.store.record({ id, name: 'demo.add', queue, state: 'SUCCESS', result: 3, finishedAt: new Date() });
    const stored = await ctx.store.get(id);
    assert.equal(stored?.state, 'SUCCESS');
    assert.equal(stored?.owner, alice.id);
    assert.equal((await http(`${gw.url}/api/v1/tasks/${id}`, { headers: bearer(alice.key) })).status, 200);
    assert.equal((await http(`${gw.url}/api/v1/tasks/${id}`, { headers: bearer(bob.key) })).status, 404);
  });

  it('records the submitting key as the task\'s owner (not shown in the representation)', async () => {
    const res = await submit(bob.key, 'demo.add', { args: [2, 3] });
    assert.equal(res.status, 202);
    const done = await waitFor('the task to succeed', async () => {
      const r = await http<Task>(`${gw.url}/api/v1/tasks/${res.body.id}`, { headers: bearer(bob.key) });
      return r.status === 200 && r.body.state === 'SUCCESS' ? r.body : undefined;
    });
    assert.equal(done.result, 5);
    const stored = await ctx.store.get(res.body.id);
    assert.equal(stored?.owner, bob.id);
    assert.equal('owner' in done, false, 'the owner is not part of the representation');
  });

  it('revoking a key (CLI) refuses it from the very next request', async () => {
    const temp = await createKey(ctx.schema, 'temp', 'demo.*,tasks:read');
    const before = await submit(temp.key, 'demo.add', { args: [1, 1] });
    assert.equal(before.status, 202);
    const revoked = await keysCli(ctx.schema, ['revoke', '--name', 'temp']);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /Revoked API key "temp"/);
    const afterRevoke = await submit(temp.key, 'demo.add', { args: [1, 1] });
    assert.equal(afterRevoke.status, 401);
    assert.equal(afterRevoke.body.error.code, 'INVALID_API_KEY');
    const list = await keysCli(ctx.schema, ['list', '--all', '--json']);
    const keys = JSON.parse(list.stdout) as { name: string; revokedAt: string | null; key?: string }[];
    assert.ok(keys.find((k) => k.name === 'temp')?.revokedAt);
    assert.ok(!list.stdout.includes(temp.key.slice(17)), 'list never prints a secret');
    assert.ok(keys.every((k) => k.key === undefined));
    const again = await keysCli(ctx.schema, ['revoke', '--name', 'temp']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /No API key in force/);
  });

  it('the CLI refuses bad scopes and duplicate names with a clear message', async () => {
    const bad = await keysCli(ctx.schema, ['create', '--name', 'x', '--scopes', 'tasks:write']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Unknown scope "tasks:write"/);
    const dup = await keysCli(ctx.schema, ['create', '--name', 'alice', '--scopes', 'demo.*']);
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /already exists/);
  });

  it('429 RATE_LIMITED with Retry-After once a key is over its own rate; other keys are unaffected', async () => {
    const limited = await createKey(ctx.schema, 'slow', 'demo.*', 3);
    const statuses: number[] = [];
    let last: { status: number; headers: Headers; body: Task & ErrorBody } | undefined;
    for (let i = 0; i < 5; i++) {
      last = await submit(limited.key, 'demo.add', { args: [i, i] });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [202, 202, 202, 429, 429]);
    assert.equal(last?.body.error.code, 'RATE_LIMITED');
    const retryAfter = Number(last?.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    const other = await submit(alice.key, 'demo.add', { args: [1, 1] });
    assert.equal(other.status, 202);
  });

  it('/healthz and /readyz stay open; /metrics takes METRICS_TOKEN or an admin key', async () => {
    assert.equal((await http(`${gw.url}/healthz`)).status, 200);
    assert.equal((await http(`${gw.url}/readyz`)).status, 200);
    const none = await http<ErrorBody>(`${gw.url}/metrics`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await http(`${gw.url}/metrics`, { headers: bearer('wrong-token-0123456789') })).status, 401);
    assert.equal((await http(`${gw.url}/metrics`, { headers: bearer(alice.key) })).status, 403);
    const withToken = await http<string>(`${gw.url}/metrics`, { headers: bearer('metrics-token-0123456789') });
    assert.equal(withToken.status, 200);
    assert.match(withToken.body, /celerity_http_request_duration_seconds/);
    assert.ok(!withToken.body.includes('guest:guest') && !withToken.body.includes(alice.key.slice(17)), 'no credential in /metrics');
    assert.equal((await http(`${gw.url}/metrics`, { headers: bearer(admin.key) })).status, 200);
  });

  describe('dashboard', () => {
    const html = { accept: 'text/html' };

    it('sends a browser without a session to the login form; JSON callers get 401', async () => {
      const res = await fetch(`${gw.url}/dashboard/`, { headers: html, redirect: 'manual' });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/dashboard/login');
      await res.arrayBuffer();
      const json = await http<ErrorBody>(`${gw.url}/dashboard/api`, { headers: { accept: 'application/json' } });
      assert.equal(json.status, 401);
      const form = await fetch(`${gw.url}/dashboard/login`);
      assert.equal(form.status, 200);
      assert.match(await form.text(), /<form method="post" action="\/dashboard\/login">/);
    });

    const login = (key: string, origin: string | undefined = gw.url): Promise<Response> =>
      fetch(`${gw.url}/dashboard/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(origin ? { origin } : {}) },
        body: new URLSearchParams({ key }).toString(),
        redirect: 'manual',
      });

    it('refuses a non-admin key (403), a bad key (401) and a login posted from another site', async () => {
      const nonAdmin = await login(alice.key);
      assert.equal(nonAdmin.status, 403);
      assert.equal(nonAdmin.headers.get('set-cookie'), null);
      await nonAdmin.arrayBuffer();
      const bad = await login('cel_000000000000_' + 'C'.repeat(43));
      assert.equal(bad.status, 401);
      await bad.arrayBuffer();
      const crossSite = await login(admin.key, 'https://evil.example');
      assert.equal(crossSite.status, 403);
      assert.equal(crossSite.headers.get('set-cookie'), null);
      await crossSite.arrayBuffer();
    });

    it('an admin login sets an HttpOnly SameSite=Strict cookie that opens the dashboard and the API, and CSRF is refused', async () => {
      const session = await createKey(ctx.schema, 'dash', 'admin');
      const res = await login(session.key);
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/dashboard/');
      const setCookie = res.headers.get('set-cookie') ?? '';
      await res.arrayBuffer();
      assert.match(setCookie, /^celerity_session=[A-Za-z0-9_-]{43};/);
      assert.match(setCookie, /HttpOnly/);
      assert.match(setCookie, /SameSite=Strict/);
      assert.ok(!setCookie.includes(session.key.slice(17)), 'the cookie is not the key');
      const cookie = setCookie.split(';')[0] ?? '';

      // Past the gate: whatever is behind it answers (the page, or a 404 where no dashboard is built).
      const page = await fetch(`${gw.url}/dashboard/`, { headers: { cookie, ...html }, redirect: 'manual' });
      await page.arrayBuffer();
      assert.ok(![303, 401, 403].includes(page.status), `the gate let the session through (got ${page.status})`);
      const created = await submit(alice.key, 'demo.add', { args: [4, 4] });
      const read = await http<Task>(`${gw.url}/api/v1/tasks/${created.body.id}`, { headers: { cookie } });
      assert.equal(read.status, 200);

      // A state-changing call with the cookie from elsewhere (or with no Origin at all) is refused.
      const csrf = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue } }, headers: { cookie, origin: 'https://evil.example' } });
      assert.equal(csrf.status, 403);
      assert.equal(csrf.body.error.code, 'CSRF_REJECTED');
      const noOrigin = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue } }, headers: { cookie } });
      assert.equal(noOrigin.body.error.code, 'CSRF_REJECTED');
      const nullOrigin = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue } }, headers: { cookie, origin: 'null' } });
      assert.equal(nullOrigin.body.error.code, 'CSRF_REJECTED');
      const crossSite = await http<ErrorBody>(`${gw.url}/api/v1/tasks/demo.add`, {
        json: { args: [1, 1], options: { queue } },
        headers: { cookie, origin: gw.url, 'sec-fetch-site': 'cross-site' },
      });
      assert.equal(crossSite.body.error.code, 'CSRF_REJECTED', 'Sec-Fetch-Site decides when the browser sends it');
      const sameOrigin = await http<Task>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue } }, headers: { cookie, origin: gw.url } });
      assert.equal(sameOrigin.status, 202);
      // What a browser sends for the page's own POST under a strict referrer policy.
      const sameSite = await http<Task>(`${gw.url}/api/v1/tasks/demo.add`, {
        json: { args: [1, 1], options: { queue } },
        headers: { cookie, origin: 'null', 'sec-fetch-site': 'same-origin' },
      });
      assert.equal(sameSite.status, 202);

      // Revoking the key ends its sessions at once.
      await new ApiKeyStore(ctx.pool).revoke({ name: 'dash' });
      const afterRevoke = await http<ErrorBody>(`${gw.url}/api/v1/tasks/${created.body.id}`, { headers: { cookie } });
      assert.equal(afterRevoke.status, 401);
    });

    it('logout ends the session', async () => {
      const res = await login(admin.key);
      const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      await res.arrayBuffer();
      const out = await fetch(`${gw.url}/dashboard/logout`, { method: 'POST', headers: { cookie, origin: gw.url }, redirect: 'manual' });
      assert.equal(out.status, 303);
      await out.arrayBuffer();
      const afterLogout = await http<ErrorBody>(`${gw.url}/dashboard/x`, { headers: { cookie } });
      assert.equal(afterLogout.status, 401);
    });
  });
});
