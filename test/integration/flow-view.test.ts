/**
 * The busiest flow-control keys, as operators see them: the store query over rows inserted
 * straight into migration 11's tables (top-N order, totals, expired slots and dispatched waits
 * not counted), the gateway's gauges (bounded to the top 10, a key leaving the top 10 leaves
 * the series), GET /api/v1/flow/keys (admin-only with keys), `celerity status` and the
 * dashboard's "Busiest keys" table in Chromium.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { busiestFlowKeys } from '../../shared/src/store/index.js';
import type { CliContext } from '../../shared/src/cli/index.js';
import { statusCommand } from '../../gateway/src/commands/status-command.js';
import { launchBrowser } from '../helpers/browser.js';
import { scrape } from '../helpers/prom.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitFor } from '../helpers/harness.js';

/** Puts `running` live slots (plus `expired` ones) and `waiting` parked tasks (plus `dispatched` ones) on a key. */
async function load(ctx: TestContext, task: string, key: string, counts: { running?: number; waiting?: number; expired?: number; dispatched?: number }): Promise<void> {
  const slot = `INSERT INTO flow_slots (task_name, flow_key, task_id, holder, expires_at) VALUES ($1, $2, $3, 'w1', now() + $4::interval)`;
  const wait = `INSERT INTO flow_waiting (task_name, flow_key, task_id, queue, content, properties, dispatched_at) VALUES ($1, $2, $3, 'q', '\\x00', '{}', $4)`;
  for (let i = 0; i < (counts.running ?? 0); i++) await ctx.pool.query(slot, [task, key, randomUUID(), '1 hour']);
  for (let i = 0; i < (counts.expired ?? 0); i++) await ctx.pool.query(slot, [task, key, randomUUID(), '-1 second']);
  for (let i = 0; i < (counts.waiting ?? 0); i++) await ctx.pool.query(wait, [task, key, randomUUID(), null]);
  for (let i = 0; i < (counts.dispatched ?? 0); i++) await ctx.pool.query(wait, [task, key, randomUUID(), new Date()]);
}

async function clear(ctx: TestContext): Promise<void> {
  await ctx.pool.query('DELETE FROM flow_slots');
  await ctx.pool.query('DELETE FROM flow_waiting');
}

/** A CliContext that keeps what the command prints. */
function cliContext(ctx: TestContext): { cli: CliContext; printed: () => string } {
  let out = '';
  const cli: CliContext = {
    env: { AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: ctx.schema, AUTO_MIGRATE: 'false' },
    print: (text) => (out += text),
    confirm: () => Promise.resolve(false),
    exitCode: () => undefined,
    exit: () => undefined,
    services: () => undefined,
  };
  return { cli, printed: () => out };
}

describe('busiest flow-control keys', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('the store query orders keys by waiting + running, counts only live slots and undispatched waits, totals every key', async () => {
    assert.deepEqual(await busiestFlowKeys(ctx.pool), { keys: [], totals: { waiting: 0, running: 0, keys: 0 } });
    await load(ctx, 'mail.send', 'acme', { running: 2, waiting: 5, expired: 3, dispatched: 4 });
    await load(ctx, 'mail.send', 'globex', { running: 1, waiting: 1 });
    await load(ctx, 'report.build', 'acme', { running: 2 });
    await load(ctx, 'report.build', 'initech', { expired: 9, dispatched: 9 });
    await load(ctx, 'mail.send', 'hooli', { waiting: 2 });
    const view = await busiestFlowKeys(ctx.pool, 2);
    assert.deepEqual(view.keys, [
      { task: 'mail.send', key: 'acme', waiting: 5, running: 2 },
      // 2 + 0 ties with 0 + 2 and 1 + 1: most waiting first.
      { task: 'mail.send', key: 'hooli', waiting: 2, running: 0 },
    ]);
    assert.deepEqual(view.totals, { waiting: 8, running: 5, keys: 4 }, 'initech has only expired slots and dispatched waits: not a key now');
    assert.equal((await busiestFlowKeys(ctx.pool)).keys.length, 4);
    await assert.rejects(busiestFlowKeys(ctx.pool, 0), RangeError);
    await assert.rejects(busiestFlowKeys(ctx.pool, 101), RangeError);
  });

  it('the store query agrees with counting the rows in memory', async () => {
    const key = fc.record({ task: fc.constantFrom('a.t', 'b.t'), key: fc.constantFrom('k1', 'k2', 'k3', 'k4'), running: fc.nat(3), waiting: fc.nat(3), expired: fc.nat(2), dispatched: fc.nat(2) });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(key, { selector: (k) => `${k.task}/${k.key}`, maxLength: 8 }), fc.integer({ min: 1, max: 10 }), async (keys, limit) => {
        await clear(ctx);
        for (const k of keys) await load(ctx, k.task, k.key, k);
        const live = keys.filter((k) => k.running + k.waiting > 0);
        const view = await busiestFlowKeys(ctx.pool, limit);
        assert.deepEqual(view.totals, { waiting: live.reduce((n, k) => n + k.waiting, 0), running: live.reduce((n, k) => n + k.running, 0), keys: live.length });
        const expected = [...live]
          .sort((a, b) => b.waiting + b.running - (a.waiting + a.running) || b.waiting - a.waiting || a.task.localeCompare(b.task) || a.key.localeCompare(b.key))
          .slice(0, limit)
          .map((k) => ({ task: k.task, key: k.key, waiting: k.waiting, running: k.running }));
        assert.deepEqual(view.keys, expected);
      }),
      { numRuns: 15 },
    );
  });

  it('the gateway exports the top 10 keys only, and a key that leaves the top 10 leaves the series', async () => {
    const { url } = await ctx.startGateway();
    for (let i = 0; i < 12; i++) await load(ctx, 'mail.send', `k${String(i).padStart(2, '0')}`, { waiting: 20 - i, running: 1 });
    let samples = await scrape(`${url}/metrics`);
    const series = (name: string) => samples.filter((s) => s.name === name);
    assert.equal(series('celerity_flow_key_tasks').length, 20, '10 keys × 2 states');
    assert.ok(series('celerity_flow_key_tasks').every((s) => s.labels.task === 'mail.send' && s.labels.key !== 'k10' && s.labels.key !== 'k11'));
    assert.deepEqual(series('celerity_flow_key_tasks').find((s) => s.labels.key === 'k00' && s.labels.state === 'waiting')?.value, 20);
    assert.deepEqual(series('celerity_flow_tasks').map((s) => [s.labels.state, s.value]).sort(), [['running', 12], ['waiting', 20 * 12 - 66]]);

    // k00 drains: it falls out of the top 10 and k10 comes in.
    await ctx.pool.query(`DELETE FROM flow_waiting WHERE flow_key = 'k00'`);
    await ctx.pool.query(`DELETE FROM flow_slots WHERE flow_key = 'k00'`);
    samples = await scrape(`${url}/metrics`);
    const keys = new Set(series('celerity_flow_key_tasks').map((s) => s.labels.key));
    assert.equal(keys.size, 10);
    assert.ok(!keys.has('k00'), 'a key out of the top 10 has no series left');
    assert.ok(keys.has('k10'));

    await clear(ctx);
    samples = await scrape(`${url}/metrics`);
    assert.equal(series('celerity_flow_key_tasks').length, 0);
    assert.deepEqual(series('celerity_flow_tasks').map((s) => s.value), [0, 0]);
  });

  it('GET /api/v1/flow/keys lists the busiest keys; admin-only when keys are on', async () => {
    const { url } = await ctx.startGateway({ config: { authMode: 'keys' } });
    await load(ctx, 'mail.send', 'acme', { running: 1, waiting: 3 });
    await load(ctx, 'mail.send', 'globex', { running: 1 });
    const keys = new ApiKeyStore(ctx.pool);
    const admin = await keys.create({ name: 'ops', scopes: 'admin' });
    const reader = await keys.create({ name: 'reader', scopes: 'mail.*,tasks:read' });
    assert.equal((await http(`${url}/api/v1/flow/keys`)).status, 401);
    assert.equal((await http(`${url}/api/v1/flow/keys`, { headers: { authorization: `Bearer ${reader.secret}` } })).status, 403);
    const auth = { authorization: `Bearer ${admin.secret}` };
    const all = await http(`${url}/api/v1/flow/keys`, { headers: auth });
    assert.equal(all.status, 200);
    assert.deepEqual(all.body, {
      keys: [
        { task: 'mail.send', key: 'acme', waiting: 3, running: 1 },
        { task: 'mail.send', key: 'globex', waiting: 0, running: 1 },
      ],
      totals: { waiting: 3, running: 2, keys: 2 },
    });
    const one = await http<{ keys: unknown[] }>(`${url}/api/v1/flow/keys?limit=1`, { headers: auth });
    assert.equal(one.body.keys.length, 1);
    for (const bad of ['0', '101', 'ten']) {
      const refused = await http<{ error: { code: string } }>(`${url}/api/v1/flow/keys?limit=${bad}`, { headers: auth });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error.code, 'INVALID_REQUEST');
    }
    const doc = await http<{ paths: Record<string, unknown> }>(`${url}/api/v1/openapi.json`, { headers: auth });
    assert.ok(doc.body.paths['/api/v1/flow/keys'], 'the route is in the OpenAPI document');
  });

  it('celerity status shows a Busiest keys section, in text and in --json', async () => {
    await load(ctx, 'mail.send', 'acme', { running: 2, waiting: 4 });
    await load(ctx, 'report.build', 'initech', { running: 1 });
    const text = cliContext(ctx);
    await statusCommand(text.cli).parseAsync(['--listen', '0', 'celery'], { from: 'user' });
    assert.match(text.printed(), /BUSIEST KEYS \(over all 2 keys: 4 waiting, 3 running\)\nTASK\s+KEY\s+WAITING\s+RUNNING\nmail\.send\s+acme\s+4\s+2\nreport\.build\s+initech\s+0\s+1\n/);
    const json = cliContext(ctx);
    await statusCommand(json.cli).parseAsync(['--listen', '0', '--json', '--keys', '1', 'celery'], { from: 'user' });
    const status = JSON.parse(json.printed()) as { busiestKeys: unknown };
    assert.deepEqual(status.busiestKeys, { keys: [{ task: 'mail.send', key: 'acme', waiting: 4, running: 2 }], totals: { waiting: 4, running: 3, keys: 2 } });
  });

  it('celerity status says so when the database cannot be read, and still prints the rest', async () => {
    const { cli, printed } = cliContext(ctx);
    const broken = { ...cli, env: { ...cli.env, DATABASE_SCHEMA: 'no_such_schema_here' } };
    await statusCommand(broken).parseAsync(['--listen', '0', 'celery'], { from: 'user' });
    assert.match(printed(), /^QUEUE/);
    assert.match(printed(), /BUSIEST KEYS\n\(could not read them from the database: .*flow_/);
  });

  it('the dashboard shows the Busiest keys table', async () => {
    const { url } = await ctx.startGateway();
    await load(ctx, 'mail.send', 'acme', { running: 2, waiting: 7 });
    const browser = await launchBrowser();
    ctx.defer(() => browser.close());
    const { page, errors } = browser;
    await page.goto(`${url}/dashboard/#busiest-keys`);
    const row = page.locator('#flow-key-table tr[data-key="acme"]');
    await row.waitFor();
    assert.equal((await row.locator('td[data-field="waiting"]').textContent())?.trim(), '7');
    assert.equal((await row.locator('td[data-field="running"]').textContent())?.trim(), '2');
    await waitFor('the totals line', async () => /Over all 1 key: 7 waiting, 2 running\./.test((await page.textContent('#flow-key-totals')) ?? ''));
    // The next refresh follows the store: the key drains and the table says none is busy.
    await clear(ctx);
    await waitFor('the empty table', async () => /No task with a per-key limit/.test((await page.textContent('#flow-key-table')) ?? ''), { timeoutMs: 15_000 });
    assert.deepEqual(errors, []);
  });
});
