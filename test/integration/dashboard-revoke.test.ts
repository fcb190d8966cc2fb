/**
 * The task detail's Revoke and Terminate buttons, in a real headless Chromium (as the other
 * dashboard tests): Revoke on a queued task ends it REVOKED (it never runs); Terminate on a
 * running one stops it; a finished task shows no buttons; with API keys the dashboard's admin
 * session may revoke.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';

async function untilTrue(page: { evaluate: (expression: string) => Promise<unknown> }, expression: string): Promise<void> {
  await waitFor(`the page to satisfy ${expression.slice(0, 60)}`, async () => (await page.evaluate(expression)) === true, { timeoutMs: 30_000 });
}

describe('dashboard: revoke and terminate', () => {
  let ctx: TestContext;
  let browser: Browser | undefined;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await browser?.close();
    await ctx.cleanup();
  });

  it('Revoke ends a queued task REVOKED; Terminate stops a running one; a finished task has no buttons', async () => {
    const queued = ctx.queue('dash-queued');
    const running = ctx.queue('dash-running');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [running] });
    // No worker consumes `queued`: the task waits there.
    const waiting = (await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue: queued } } })).body.id;
    const sleeping = (await http<Task>(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [600], options: { queue: running } } })).body.id;
    await waitFor('the sleep to start', async () => (await ctx.store.get(sleeping))?.state === 'STARTED');
    const done = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=20`, { json: { args: [2, 2], options: { queue: running } } });
    assert.equal(done.body.state, 'SUCCESS');

    browser = await launchBrowser({ viewport: { width: 1280, height: 1400 } });
    const { page, errors } = browser;
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await page.goto(`${url}/dashboard`);
    const open = async (id: string): Promise<void> => {
      await page.fill('#search input[name="id"]', id);
      await page.click('#search button[type="submit"]');
      await untilTrue(page, `document.querySelector('#detail-id').textContent === ${JSON.stringify(id)}`);
    };

    await open(done.body.id);
    assert.equal(await page.locator('#detail-actions button').count(), 0, 'a finished task has no revoke buttons');

    await open(waiting);
    await page.click('#detail-actions button[data-action="revoke"]');
    await untilTrue(page, `document.querySelector('#task-detail dd[data-field="state"]').textContent === 'REVOKED'`);
    assert.equal((await ctx.store.get(waiting))?.state, 'REVOKED');
    assert.equal(await page.locator('#detail-actions button').count(), 0);

    await open(sleeping);
    await page.click('#detail-actions button[data-action="terminate"]');
    await untilTrue(page, `document.querySelector('#task-detail dd[data-field="state"]').textContent === 'REVOKED'`);
    assert.equal((await ctx.finalRow(sleeping)).state, 'REVOKED');
    await waitFor('the delivery to be acked', () => worker.inFlight === 0);
    assert.equal(dialogs.length, 2, 'each action asked first');
    assert.match(dialogs[1] ?? '', /Terminate task/);
    assert.deepEqual(errors, []);
  });
});
