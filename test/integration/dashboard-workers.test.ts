/**
 * The Workers view's admin actions, over Celery's remote control: the gateway's admin routes
 * (`/api/v1/workers/live`, `…/{name}/consumers`, `…/{name}/pool`) and the dashboard's form in
 * a real headless Chromium (as dashboard.test.ts).
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { TestContext, http, waitFor } from '../helpers/harness.js';

describe('worker admin actions', () => {
  let ctx: TestContext;
  let browser: Browser | undefined;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await browser?.close();
    await ctx.cleanup();
  });

  it('the HTTP routes: live workers, add and cancel a consumer; a gone worker is 504, a bad queue 400', async () => {
    const queue = ctx.queue('adminhome');
    const added = ctx.queue('adminadded');
    const name = `celerity-${ctx.suffix}@admin`;
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue], name });

    const live = await http<{ workers: { name: string; stats: { pool: { 'max-concurrency': number } } }[] }>(`${url}/api/v1/workers/live`);
    assert.equal(live.status, 200);
    assert.equal(live.body.workers.find((w) => w.name === name)?.stats.pool['max-concurrency'], 8);

    const add = await http(`${url}/api/v1/workers/${encodeURIComponent(name)}/consumers`, { json: { queue: added } });
    assert.equal(add.status, 200);
    assert.deepEqual(add.body, { worker: name, reply: { ok: `add consumer ${added}` } });
    assert.equal((await ctx.queueDepth(added)).consumers, 1);

    const cancel = await http(`${url}/api/v1/workers/${encodeURIComponent(name)}/consumers/${added}`, { method: 'DELETE', json: {} });
    assert.deepEqual(cancel.body, { worker: name, reply: { ok: `no longer consuming from ${added}` } });
    const again = await http<{ error: { code: string; message: string } }>(`${url}/api/v1/workers/${encodeURIComponent(name)}/consumers/${added}`, { method: 'DELETE', json: {} });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'CONTROL_REFUSED');

    const gone = await http<{ error: { code: string; message: string } }>(`${url}/api/v1/workers/celerity-gone-${ctx.suffix}@x/pool`, { json: { grow: 1 } });
    assert.equal(gone.status, 504);
    assert.equal(gone.body.error.code, 'WORKER_NO_REPLY');
    assert.match(gone.body.error.message, /No reply from worker "celerity-gone-.*" within 3s/);

    const badQueue = await http<{ error: { code: string } }>(`${url}/api/v1/workers/${encodeURIComponent(name)}/consumers`, { json: { queue: 'amq.no' } });
    assert.equal(badQueue.status, 400);
    assert.equal(badQueue.body.error.code, 'INVALID_QUEUE');
    const reserved = await http<{ error: { code: string } }>(`${url}/api/v1/workers/${encodeURIComponent(name)}/consumers`, { json: { queue: `${queue}.dead` } });
    assert.equal(reserved.status, 400, 'a dead-letter queue is not consumed as a task queue');
    const badPool = await http<{ error: { code: string } }>(`${url}/api/v1/workers/${encodeURIComponent(name)}/pool`, { json: { grow: 0 } });
    assert.equal(badPool.status, 400);
  });

  it('the dashboard lists the workers that answer, adds and cancels a consumer, and sends pool changes', async () => {
    const queue = ctx.queue('dashadmin');
    const added = ctx.queue('dashadded');
    const name = `celerity-${ctx.suffix}@dash`;
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue], name });

    browser = await launchBrowser({ viewport: { width: 1280, height: 1400 } });
    const { page, errors } = browser;
    await page.goto(`${url}/dashboard/#workers`);
    await page.locator(`#worker-admin select option[value="${name}"]`).waitFor({ state: 'attached' });
    await page.selectOption('#worker-admin select', name);

    await page.fill('#worker-admin input[name="queue"]', added);
    await page.click('#worker-admin button[data-action="add_consumer"]');
    await page.locator('#worker-admin-result', { hasText: `${name}: add consumer ${added}` }).waitFor();
    await waitFor('the worker to consume the added queue', async () => (await ctx.queueDepth(added)).consumers === 1);

    await page.click('#worker-admin button[data-action="cancel_consumer"]');
    await page.locator('#worker-admin-result', { hasText: `${name}: no longer consuming from ${added}` }).waitFor();
    await waitFor('the consumer to be cancelled', async () => (await ctx.queueDepth(added)).consumers === 0);

    // pool_grow resizes the running worker (Worker.resize), and the page shows its answer.
    await page.click('#worker-admin button[data-action="pool_grow"]');
    await page.locator('#worker-admin-result', { hasText: /pool will grow/ }).waitFor();
    assert.equal(await page.inputValue('#worker-admin input[name="queue"]'), added, 'what the operator typed stays');
    assert.deepEqual(errors.filter((e) => !/409|Conflict/.test(e)), [], 'no errors in the page but the refusal');
  });
});
