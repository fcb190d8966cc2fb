/**
 * The dashboard's workflow view in a real headless Chromium (test/helpers/browser.ts): a task's
 * detail links to its workflow, whose view lists every task with its state, each linked back.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { TestContext, http, waitFor } from '../helpers/harness.js';

describe('dashboard: workflows in Chromium', () => {
  let ctx: TestContext;
  let browser: Browser | undefined;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await browser?.close();
    await ctx.cleanup();
  });

  it('links a task to its workflow, shows the workflow’s tasks and states, and links each back', async () => {
    const queue = ctx.queue('dashwf');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const started = await http<{ id: string; tasks: { id: string }[] }>(`${url}/api/v1/workflows`, {
      json: { chord: { header: [{ name: 'demo.add', args: [1, 2], options: { queue } }, { name: 'demo.fail', args: ['shown'], options: { queue } }], body: { name: 'demo.sum', options: { queue } } } },
    });
    assert.equal(started.status, 202);
    const done = await http<{ state: string }>(`${url}/api/v1/workflows/${started.body.id}?wait=30`);
    assert.equal(done.body.state, 'FAILURE');
    const [first, second, body] = started.body.tasks;

    browser = await launchBrowser({ viewport: { width: 1280, height: 1400 } });
    const { page, errors } = browser;
    await page.goto(`${url}/dashboard`);
    await page.fill('#search input[name="id"]', first!.id);
    await page.click('#search button[type="submit"]');
    const link = page.locator(`#task-detail dd[data-field="workflow"] a[data-workflow="${started.body.id}"]`);
    await link.waitFor();
    assert.match((await link.textContent()) ?? '', /^chord .* \(FAILURE\)$/);
    await link.click();

    await page.locator(`#workflow-tasks tr[data-id="${body!.id}"]`).waitFor();
    assert.equal((await page.textContent('#workflow-id'))?.trim(), started.body.id);
    assert.equal((await page.textContent('#workflow-detail dd[data-field="state"]'))?.trim(), 'FAILURE');
    const states = await page.locator('#workflow-tasks tbody tr td:nth-child(5)').allTextContents();
    assert.deepEqual(states, ['SUCCESS', 'FAILURE', 'PENDING']);
    assert.match((await page.textContent('#workflow-detail dd[data-field="error"]')) ?? '', /shown/);

    // Each task links back to its detail.
    await page.locator(`#workflow-tasks tr[data-id="${second!.id}"] a`).click();
    await waitFor('the second task’s detail', async () => (await page.textContent('#detail-id'))?.trim() === second!.id);
    await page.locator('#task-detail dd[data-field="error"]').waitFor();
    assert.deepEqual(errors, [], 'no errors in the page');
  });
});
