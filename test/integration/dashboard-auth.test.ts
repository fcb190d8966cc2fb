/**
 * The dashboard behind AUTH_MODE=keys in a real headless Chromium: a browser without a session
 * is sent to the login form, an admin key signs it in (HttpOnly SameSite=Strict cookie), the
 * page's same-origin JSON calls work with the cookie, and a re-drive (a cookie-authenticated
 * POST, so checked against CSRF) goes through from the page itself.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';


describe('dashboard login in Chromium (AUTH_MODE=keys)', () => {
  let ctx: TestContext;
  let browser: Browser | undefined;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await browser?.close();
    await ctx.cleanup();
  });

  it('logs in with an admin key, shows tasks and re-drives a dead letter from the page', async () => {
    const queue = ctx.queue('dashauth');
    const { url } = await ctx.startGateway({ queueStatsIntervalMs: 300, config: { authMode: 'keys' } });
    await ctx.startWorker({ queues: [queue] });
    const keys = new ApiKeyStore(ctx.pool);
    const admin = await keys.create({ name: 'ops', scopes: 'admin' });
    const reader = await keys.create({ name: 'reader', scopes: 'demo.*,tasks:read' });
    const fail = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=20`, {
      json: { args: ['login failure'], options: { queue } },
      headers: { authorization: `Bearer ${admin.secret}` },
    });
    assert.equal(fail.body.state, 'FAILURE');
    await waitFor('the dead letter', async () => (await ctx.deadLetters(queue)).length === 1);

    browser = await launchBrowser();
    const { page, errors } = browser;

    await page.goto(`${url}/dashboard/`);
    assert.match(page.url(), /\/dashboard\/login$/, 'no session: the login form');

    // A key without admin is refused at the form.
    await page.fill('#key', reader.secret);
    await page.click('button[type="submit"]');
    assert.match((await page.textContent('.error')) ?? '', /admin scope/);

    await page.fill('#key', admin.secret);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${url}/dashboard/`);
    assert.equal(await page.title(), 'Celerity dashboard');
    const cookies = await browser.context.cookies(url);
    const session = cookies.find((c) => c.name === 'celerity_session');
    assert.ok(session, 'the session cookie is set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');

    // The page's JSON calls (same-origin, cookie) work: the task list shows the failed task.
    await page.locator(`#task-table tr[data-id="${fail.body.id}"]`).waitFor();

    // Re-drive from the page: a cookie-authenticated POST from our own origin passes the CSRF check.
    await page.selectOption('#dead-form select', queue);
    await page.click('#dead-form button[type="submit"]');
    const row = page.locator(`#dead-table tr[data-id="${fail.body.id}"]`);
    await row.waitFor();
    await row.locator('button').click();
    await waitFor('the re-drive message', async () => /Re-drove 1 task/.test((await page.textContent('#dead-message')) ?? ''), { timeoutMs: 30_000 }).catch(async (err: unknown) => {
      throw new Error(`${String(err)}; the page says: ${(await page.textContent('#dead-message')) ?? ''}`);
    });
    assert.deepEqual(errors, [], 'no errors in the page (nothing blocked by the Content-Security-Policy)');

    // The same cookie from a plain client without our Origin cannot change anything.
    const csrf = await http<{ error: { code: string } }>(`${url}/api/v1/dead-letters/redrive`, {
      json: { queue },
      headers: { cookie: `celerity_session=${session.value}`, origin: 'https://evil.example' },
    });
    assert.equal(csrf.status, 403);
    assert.equal(csrf.body.error.code, 'CSRF_REJECTED');
  });
});
