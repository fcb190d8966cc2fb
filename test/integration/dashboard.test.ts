/**
 * The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core; scripts/ensure-chromium.sh installs it): the page loads, shows a task this
 * test submitted, search finds it, the queue chart has data, and a screenshot is saved under
 * test-artifacts/.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';

const ARTIFACTS = resolve(process.cwd(), 'test-artifacts');

describe('dashboard in Chromium', () => {
  let ctx: TestContext;
  let browser: Browser | undefined;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await browser?.close();
    await ctx.cleanup();
  });

  it('shows a submitted task, finds it by search, charts the queue, lists dead letters and re-drives one', async (t) => {
    const queue = ctx.queue('dash');
    const { url } = await ctx.startGateway({ queueStatsIntervalMs: 300 });
    const worker = await ctx.startWorker({ queues: [queue] });
    const add = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=20`, { json: { args: [40, 2], options: { queue } } });
    assert.equal(add.body.state, 'SUCCESS');
    const echo = await http<Task>(`${url}/api/v1/tasks/demo.echo?wait=20`, { json: { args: ['dashboard'], options: { queue } } });
    assert.equal(echo.body.state, 'SUCCESS');
    const fail = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=20`, { json: { args: ['dashboard failure'], options: { queue } } });
    assert.equal(fail.body.state, 'FAILURE');
    await waitFor('the dead letter', async () => (await ctx.deadLetters(queue)).length === 1);

    browser = await launchBrowser({ viewport: { width: 1280, height: 1400 } });
    const { page, errors } = browser;

    await page.goto(`${url}/dashboard`);
    assert.equal(await page.title(), 'Celerity dashboard');
    // The task list shows both tasks, newest first.
    await page.locator(`#task-table tr[data-id="${add.body.id}"]`).waitFor();
    await page.locator(`#task-table tr[data-id="${echo.body.id}"]`).waitFor();

    // Search by name finds only the echo task.
    await page.fill('#search input[name="name"]', 'demo.echo');
    await page.click('#search button[type="submit"]');
    // (Browser-side expressions are strings: this file is type-checked without the DOM library.)
    await untilTrue(page, 
      `(() => { const rows = [...document.querySelectorAll('#task-table tbody tr[data-id]')];
        return rows.length === 1 && rows[0].getAttribute('data-id') === ${JSON.stringify(echo.body.id)}; })()`,
    );

    // Search by id opens the task's detail with its result.
    await page.fill('#search input[name="name"]', '');
    await page.fill('#search input[name="id"]', add.body.id);
    await page.click('#search button[type="submit"]');
    await page.locator('#task-detail dd[data-field="result"]').waitFor();
    assert.equal((await page.textContent('#task-detail dd[data-field="result"]'))?.trim(), '42');
    assert.equal((await page.textContent('#detail-id'))?.trim(), add.body.id);

    // The queue table and chart have data from the broker samples.
    await page.locator(`#queue-table tr[data-queue="${queue}"]`).waitFor();
    await untilTrue(page, `Number(document.querySelector('#depth-chart').getAttribute('data-points')) >= 2`);
    assert.equal(await page.locator('#depth-chart canvas').count(), 1);
    const seriesLabels = await page.locator('#depth-chart .u-legend .u-series').allTextContents();
    assert.ok(seriesLabels.some((label) => label.includes(queue)), `the chart has a series for ${queue}: ${seriesLabels.join(' | ')}`);

    // The worker shows as online.
    await page.locator(`#worker-table tr[data-worker="${worker.name}"] td.online`).waitFor();

    // The failed task is listed among the queue's dead letters, with its error; re-drive it.
    await page.selectOption('#dead-form select', queue);
    await page.click('#dead-form button[type="submit"]');
    const row = page.locator(`#dead-table tr[data-id="${fail.body.id}"]`);
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /PermanentError: dashboard failure/);
    await row.locator('button').click();
    await untilTrue(page, `/Re-drove 1 task/.test(document.querySelector('#dead-message').textContent)`);
    // demo.fail fails again, so the re-driven task comes back as a dead letter.
    await waitFor('the re-driven task to fail again', async () => (await ctx.deadLetters(queue)).length === 1);

    // The link alerts and Grafana panels carry opens the queue's dead letters directly.
    await page.goto(`${url}/dashboard/?queue=${encodeURIComponent(queue)}#dead-letters`);
    await page.locator(`#dead-table tr[data-id="${fail.body.id}"]`).waitFor();
    assert.equal(await page.inputValue('#dead-form select'), queue);

    await mkdir(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`dashboard screenshot saved to ${shot}`);
    assert.deepEqual(errors, [], 'no errors in the page');
  });
});

/**
 * Polls a browser-side expression until it is true. page.evaluate runs it through the DevTools
 * protocol, which the gateway's Content-Security-Policy (script-src 'self', no eval) does not
 * cover; page.waitForFunction evaluates strings with eval inside the page, which it blocks.
 */
async function untilTrue(page: { evaluate: (expression: string) => Promise<unknown> }, expression: string): Promise<void> {
  await waitFor(`the page to satisfy ${expression.slice(0, 60)}`, async () => (await page.evaluate(expression)) === true, { timeoutMs: 30_000 });
}
