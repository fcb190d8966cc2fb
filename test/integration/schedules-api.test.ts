/**
 * Schedules over HTTP and through the Node client, against the real services: the listing with
 * last and next runs, run-time create / change / delete validated as a submit (unknown task 404,
 * bad arguments 400), pause and resume, trigger now and backfill fired by the leader, and
 * admin-only access with AUTH_MODE=keys.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { createClient } from '../../shared/src/client/client.js';
import { startBeat, type RunningBeat } from '../../shared/src/schedule/index.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitForState, waitFor, type GatewayHandle } from '../helpers/harness.js';
import { demoApp } from '../helpers/demo.js';

interface ScheduleBody {
  name: string;
  task: string;
  every?: string;
  cron?: string;
  paused: boolean;
  source: string;
  nextRunAt: string | null;
  lastRun: { scheduledAt: string; taskId: string | null } | null;
  runs?: Array<{ scheduledAt: string; state: string; kind: string; taskId: string | null }>;
}
interface ErrorBody {
  error: { code: string; message: string };
}

describe('the schedules API', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  let beat: RunningBeat;
  let queue: string;

  before(async () => {
    ctx = await TestContext.create();
    const demo = await demoApp();
    queue = ctx.queue('sched');
    gw = await ctx.startGateway({ schedules: demo.schedules });
    await ctx.startWorker({ queues: [queue] });
    beat = await startBeat({
      config: { amqpUrls: [TEST_AMQP_URL], databaseUrl: TEST_DATABASE_URL, heartbeatS: 10 },
      schema: ctx.schema,
      logger: ctx.logger,
      tasks: demo.tasks,
      // The demo's own schedule stays paused below: this test's runs are its triggers and backfills.
      schedules: [],
      leaseMs: 3_000,
      tickMs: 200,
    });
    ctx.defer(() => beat.close());
  });
  after(() => ctx.cleanup());

  it('lists the app module\'s schedules with their next run', async () => {
    const { status, body } = await http<{ schedules: ScheduleBody[]; leader: { holder: string } | null }>(`${gw.url}/api/v1/schedules`);
    assert.equal(status, 200);
    const demo = body.schedules.find((s) => s.name === 'demo.add-every-10s');
    assert.ok(demo);
    assert.equal(demo.task, 'demo.add');
    assert.equal(demo.every, '10s');
    assert.equal(demo.source, 'app');
    assert.equal(demo.paused, false);
    assert.ok(demo.nextRunAt && Date.parse(demo.nextRunAt) % 10_000 === 0 && Date.parse(demo.nextRunAt) > Date.now() - 1_000);
    assert.equal(body.leader?.holder, beat.beat.name);
  });

  it('creates a schedule validated as a submit: unknown task 404, bad arguments 400, bad cron 400, taken name 409', async () => {
    const post = (json: unknown) => http<ScheduleBody & ErrorBody>(`${gw.url}/api/v1/schedules`, { json });
    const created = await post({ name: 'customer:42', task: 'demo.add', cron: '0 3 * * *', args: [1, 2], options: { queue }, paused: true });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.get('location'), '/api/v1/schedules/customer%3A42');
    assert.equal(created.body.source, 'api');
    assert.equal(created.body.paused, true);
    assert.equal(created.body.nextRunAt, null);

    const unknown = await post({ name: 'u', task: 'demo.nope', every: '1m' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'UNKNOWN_TASK');
    const badArgs = await post({ name: 'b', task: 'demo.add', every: '1m', args: ['x'] });
    assert.equal(badArgs.status, 400);
    assert.equal(badArgs.body.error.code, 'INVALID_ARGUMENTS');
    assert.match(badArgs.body.error.message, /schedule "b"/);
    const badCron = await post({ name: 'c', task: 'demo.add', cron: '99 * * * *', args: [1, 2] });
    assert.equal(badCron.status, 400);
    assert.equal(badCron.body.error.code, 'INVALID_SCHEDULE');
    const badOption = await post({ name: 'o', task: 'demo.add', every: '1m', args: [1, 2], options: { priority: 999 } });
    assert.equal(badOption.status, 400);
    const extra = await post({ name: 'e', task: 'demo.add', every: '1m', args: [1, 2], bogus: 1 });
    assert.equal(extra.status, 400);
    assert.equal((await post({ name: 'customer:42', task: 'demo.add', every: '1m', args: [1, 2] })).status, 409);
    assert.equal((await post({ name: 'demo.add-every-10s', task: 'demo.add', every: '1m', args: [1, 2] })).status, 409);
  });

  it('changes, pauses, resumes and deletes a stored schedule; an app schedule is not changed or deleted', async () => {
    const url = `${gw.url}/api/v1/schedules/customer%3A42`;
    const changed = await http<ScheduleBody>(url, { method: 'PATCH', json: { every: '1h' } });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.every, '1h');
    assert.equal(changed.body.cron, undefined);
    assert.equal((await http(url, { method: 'PATCH', json: { args: ['x'] } })).status, 400);
    const resumed = await http<ScheduleBody>(`${url}/resume`, { method: 'POST', json: {} });
    assert.equal(resumed.body.paused, false);
    assert.ok(resumed.body.nextRunAt);
    const paused = await http<ScheduleBody>(`${url}/pause`, { method: 'POST', json: {} });
    assert.equal(paused.body.paused, true);
    // The app's own schedule can be paused (its state is stored), not deleted or changed.
    const app = `${gw.url}/api/v1/schedules/demo.add-every-10s`;
    assert.equal((await http<ScheduleBody>(`${app}/pause`, { method: 'POST', json: {} })).body.paused, true);
    assert.equal((await http(app, { method: 'DELETE', json: {} })).status, 409);
    assert.equal((await http(app, { method: 'PATCH', json: { every: '1m' } })).status, 409);
    assert.equal((await http(url, { method: 'DELETE', json: {} })).status, 204);
    assert.equal((await http<ErrorBody>(url)).body.error.code, 'SCHEDULE_NOT_FOUND');
    assert.equal((await http(url, { method: 'DELETE', json: {} })).status, 404);
  });

  it('triggers a run now, fired by the leader, even while paused', async () => {
    await http(`${gw.url}/api/v1/schedules`, { json: { name: 'adder', task: 'demo.add', every: '1h', args: [20, 22], options: { queue }, paused: true } });
    const trigger = await http<{ scheduledAt: string; taskId: string }>(`${gw.url}/api/v1/schedules/adder/trigger`, { method: 'POST', json: {} });
    assert.equal(trigger.status, 202);
    const task = await waitForState(gw.url, trigger.body.taskId, ['SUCCESS']);
    assert.equal(task.result, 42);
    const detail = await waitFor('the run to show as published', async () => {
      const { body } = await http<ScheduleBody>(`${gw.url}/api/v1/schedules/adder`);
      return body.runs?.[0]?.state === 'published' ? body : undefined;
    });
    assert.equal(detail.runs?.[0]?.kind, 'trigger');
    assert.equal(detail.lastRun?.taskId, trigger.body.taskId);
  });

  it('backfills a past range once: asking again fires nothing more', async () => {
    await http(`${gw.url}/api/v1/schedules`, { json: { name: 'hourly', task: 'demo.add', cron: '0 * * * *', args: [1, 1], options: { queue }, paused: true } });
    const range = { from: '2026-01-01T00:00:00Z', to: '2026-01-01T02:30:00Z' };
    const first = await http<{ runs: Array<{ scheduledAt: string; taskId: string }> }>(`${gw.url}/api/v1/schedules/hourly/backfill`, { json: range });
    assert.equal(first.status, 202);
    assert.deepEqual(first.body.runs.map((r) => r.scheduledAt), ['2026-01-01T00:00:00.000Z', '2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z']);
    const again = await http<{ runs: unknown[] }>(`${gw.url}/api/v1/schedules/hourly/backfill`, { json: range });
    assert.deepEqual(again.body.runs, []);
    for (const run of first.body.runs) assert.equal((await waitForState(gw.url, run.taskId, ['SUCCESS'])).result, 2);
    assert.equal((await http(`${gw.url}/api/v1/schedules/hourly/backfill`, { json: { from: '2020-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' } })).status, 400);
    assert.equal((await http(`${gw.url}/api/v1/schedules/hourly/backfill`, { json: { from: 'yesterday' } })).status, 400);
  });

  it('the Node client does the same', async () => {
    const demo = await demoApp();
    const client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, tasks: demo.tasks });
    try {
      const created = await client.schedules.create({ name: 'from-client', task: 'demo.add', every: '5m', args: [2, 2], options: { queue } });
      assert.equal(created.every, '5m');
      await assert.rejects(client.schedules.create({ name: 'x', task: 'demo.nope', every: '5m' }), { code: 'UNKNOWN_TASK' });
      await assert.rejects(client.schedules.create({ name: 'y', task: 'demo.add', every: '5m', args: ['a'] }), { code: 'INVALID_ARGUMENTS' });
      assert.equal((await client.schedules.update('from-client', { every: '10m' })).every, '10m');
      assert.equal((await client.schedules.pause('from-client')).paused, true);
      const { taskId } = await client.schedules.trigger('from-client');
      assert.equal(await client.get(taskId).result({ timeoutMs: 15_000 }), 4);
      assert.ok((await client.schedules.list()).some((s) => s.name === 'from-client'));
      await client.schedules.delete('from-client');
      await assert.rejects(client.schedules.get('from-client'), { code: 'SCHEDULE_NOT_FOUND' });
    } finally {
      await client.close();
    }
  });
});

describe('the schedules API with AUTH_MODE=keys', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;

  before(async () => {
    ctx = await TestContext.create();
    gw = await ctx.startGateway({ config: { authMode: 'keys' }, schedules: (await demoApp()).schedules });
  });
  after(() => ctx.cleanup());

  it('is admin-only: a key scoped to tasks gets 403, an admin key gets through', async () => {
    const keys = new ApiKeyStore(ctx.pool);
    const admin = await keys.create({ name: 'ops', scopes: 'admin' });
    const user = await keys.create({ name: 'app', scopes: 'demo.*,tasks:read' });
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    const body = { name: 'k', task: 'demo.add', every: '1m', args: [1, 2] };
    assert.equal((await http(`${gw.url}/api/v1/schedules`)).status, 401);
    assert.equal((await http(`${gw.url}/api/v1/schedules`, { headers: as(user.secret) })).status, 403);
    assert.equal((await http(`${gw.url}/api/v1/schedules`, { json: body, headers: as(user.secret) })).status, 403);
    assert.equal((await http(`${gw.url}/api/v1/schedules/demo.add-every-10s/trigger`, { method: 'POST', json: {}, headers: as(user.secret) })).status, 403);
    assert.equal((await http(`${gw.url}/api/v1/schedules`, { json: body, headers: as(admin.secret) })).status, 201);
    assert.equal((await http(`${gw.url}/api/v1/schedules/k`, { method: 'DELETE', json: {}, headers: as(user.secret) })).status, 403);
    assert.equal((await http(`${gw.url}/api/v1/schedules/k`, { method: 'DELETE', json: {}, headers: as(admin.secret) })).status, 204);
  });
});
