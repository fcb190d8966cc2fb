/**
 * The dashboard's Schedules view in a real headless Chromium: the app module's schedule and a
 * stored one listed with their next run and the leader; "Run now" fires a run that then shows
 * as the last run; Pause and Resume switch the schedule.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitFor } from '../helpers/harness.js';
import { demoApp } from '../helpers/demo.js';
import { startBeat } from '../../shared/src/schedule/index.js';

describe('the Schedules view in Chromium', () => {
  let ctx: TestContext;
  let browser: Browser | undefined;
  before(async () => {
    ctx = await TestContext.create();
  });
  after(async () => {
    await browser?.close();
    await ctx.cleanup();
  });

  it('lists schedules with last and next run, runs one now, pauses and resumes', async () => {
    const demo = await demoApp();
    const queue = ctx.queue('dash-sched');
    const { url } = await ctx.startGateway({ schedules: demo.schedules });
    await ctx.startWorker({ queues: [queue] });
    const beat = await startBeat({
      config: { amqpUrls: [TEST_AMQP_URL], databaseUrl: TEST_DATABASE_URL, heartbeatS: 10 },
      schema: ctx.schema,
      logger: ctx.logger,
      tasks: demo.tasks,
      schedules: [],
      tickMs: 200,
    });
    ctx.defer(() => beat.close());
    const created = await http(`${url}/api/v1/schedules`, { json: { name: 'nightly.report', task: 'demo.add', cron: '0 3 * * *', args: [1, 2], options: { queue } } });
    assert.equal(created.status, 201);

    browser = await launchBrowser({ viewport: { width: 1280, height: 1400 } });
    const { page, errors } = browser;
    await page.goto(`${url}/dashboard/#schedules`);
    const appRow = page.locator('#schedule-table tr[data-schedule="demo.add-every-10s"]');
    await appRow.waitFor();
    assert.match((await appRow.textContent()) ?? '', /demo\.add.*every 10s/);
    assert.notEqual((await appRow.locator('td[data-field="next"]').textContent())?.trim(), '—');
    const row = page.locator('#schedule-table tr[data-schedule="nightly.report"]');
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /cron 0 3 \* \* \*/);
    assert.equal((await row.locator('td[data-field="last"]').textContent())?.trim(), '—');
    await waitFor('the leader line', async () => ((await page.textContent('#schedule-leader')) ?? '').includes(beat.beat.name), { timeoutMs: 30_000 });

    await row.locator('button[data-action="trigger"]').click();
    await waitFor('the triggered run to show as the last run', async () => /\(trigger\)/.test((await row.locator('td[data-field="last"]').textContent()) ?? ''), { timeoutMs: 30_000 });
    assert.match((await page.textContent('#schedule-message')) ?? '', /Asked for a run of nightly\.report: task [0-9a-f-]{36}/);

    await row.locator('button[data-action="pause"]').click();
    await row.locator('button[data-action="resume"]').waitFor();
    assert.equal((await row.locator('td[data-field="next"]').textContent())?.trim(), 'paused');
    await row.locator('button[data-action="resume"]').click();
    await row.locator('button[data-action="pause"]').waitFor();
    assert.notEqual((await row.locator('td[data-field="next"]').textContent())?.trim(), 'paused');
    assert.deepEqual(errors, [], 'no errors in the page');
  });
});
