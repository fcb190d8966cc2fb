/**
 * The schedules' policies with a real scheduler, worker, broker and store: overlap (skip,
 * queue-one), catch-up after an outage (once, all, and the window), pause and resume.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkSchedule, type ScheduleConfig } from '../../shared/src/app/define-schedule.js';
import { runsBetween } from '../../shared/src/app/schedule-spec.js';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { ScheduleAdmin, startBeat, type RunningBeat } from '../../shared/src/schedule/index.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, waitFor } from '../helpers/harness.js';
import { firesOf } from '../helpers/beat.js';
import { demoApp } from '../helpers/demo.js';

let ctx: TestContext;
let queue: string;

before(async () => {
  ctx = await TestContext.create();
  queue = ctx.queue('policies');
  await ctx.startWorker({ queues: [queue], concurrency: 8 });
});
after(() => ctx.cleanup());

async function beatWith(configs: Array<Omit<ScheduleConfig, 'options'>>): Promise<RunningBeat> {
  const demo = await demoApp();
  const beat = await startBeat({
    config: { amqpUrls: [TEST_AMQP_URL], databaseUrl: TEST_DATABASE_URL, heartbeatS: 10 },
    schema: ctx.schema,
    logger: ctx.logger,
    tasks: demo.tasks,
    schedules: configs.map((c) => checkSchedule({ ...c, options: { queue } })),
    leaseMs: 3_000,
    tickMs: 200,
  });
  ctx.defer(() => beat.close());
  return beat;
}

/** The [start, end] of each published run's task, from the store, in order. */
async function runTimes(schedule: string): Promise<Array<[number, number]>> {
  const fires = (await firesOf(ctx.pool, schedule)).filter((f) => f.state === 'published');
  const out: Array<[number, number]> = [];
  for (const fire of fires) {
    const task = fire.taskId ? await ctx.finalRow(fire.taskId) : undefined;
    assert.ok(task?.startedAt && task.finishedAt, `run ${fire.scheduledAt.toISOString()} ran`);
    out.push([task.startedAt.getTime(), task.finishedAt.getTime()]);
  }
  return out;
}

describe('overlap', () => {
  it("'skip' and 'queue-one' never run two at once; skip drops, queue-one holds one", { timeout: 90_000 }, async () => {
    const beat = await beatWith([
      { name: 'slow.skip', task: 'demo.sleep', every: '1s', args: [1.5], overlap: 'skip' },
      { name: 'slow.queue', task: 'demo.sleep', every: '1s', args: [2.5], overlap: 'queue-one' },
    ]);
    await waitFor('runs and overlaps of both', async () => {
      const skip = await firesOf(ctx.pool, 'slow.skip');
      const held = await firesOf(ctx.pool, 'slow.queue');
      return skip.filter((f) => f.state === 'published').length >= 3 && skip.some((f) => f.state === 'skipped') &&
        held.filter((f) => f.state === 'published').length >= 3 && held.some((f) => f.state === 'skipped');
    }, { timeoutMs: 60_000 });
    await beat.close();
    for (const name of ['slow.skip', 'slow.queue']) {
      const fires = await firesOf(ctx.pool, name);
      assert.ok(fires.filter((f) => f.state === 'queued').length <= 1, `${name}: at most one run held`);
      const times = await runTimes(name);
      for (let i = 1; i < times.length; i++) assert.ok((times[i]?.[0] ?? 0) >= (times[i - 1]?.[1] ?? Infinity), `${name}: run ${i} started after run ${i - 1} finished`);
    }
    // queue-one: a held run is fired once its turn comes, so some published runs were held ones.
    const { rows } = await ctx.pool.query<{ n: string }>("SELECT count(*) AS n FROM schedule_fires WHERE schedule = 'slow.queue' AND state = 'published' AND fencing_token IS NOT NULL AND published_at - scheduled_at > interval '1 second'");
    assert.ok(Number(rows[0]?.n) >= 1, `a held run was published after the previous run finished: ${JSON.stringify(await firesOf(ctx.pool, 'slow.queue'))}`);
  });
});

describe('catch-up after an outage', () => {
  it("'once' fires only the latest missed run, 'all' each within the window, none older than the window", { timeout: 60_000 }, async () => {
    const start = Date.now();
    const lastRun = new Date(start - 20_000);
    const names = ['late.once', 'late.all', 'late.window'];
    // As if a leader had handled runs up to 20 s ago, then every scheduler was down.
    await ctx.pool.query("INSERT INTO schedules (name, source, last_run_at) SELECT unnest($1::text[]), 'app', $2", [names, lastRun]);
    const beat = await beatWith([
      { name: 'late.once', task: 'demo.add', every: '1s', args: [1, 1], catchUp: 'once' },
      { name: 'late.all', task: 'demo.add', every: '1s', args: [1, 1], catchUp: 'all' },
      { name: 'late.window', task: 'demo.add', every: '1s', args: [1, 1], catchUp: 'all', catchUpWindow: '5s' },
    ]);
    await waitFor('runs after the start', async () => {
      for (const name of names) if (!(await firesOf(ctx.pool, name)).some((f) => f.scheduledAt.getTime() > start + 1_000)) return false;
      return true;
    }, { timeoutMs: 30_000 });
    await beat.close();
    const missedBefore = async (name: string, until: number) => (await firesOf(ctx.pool, name)).filter((f) => f.scheduledAt.getTime() < until).map((f) => f.scheduledAt.getTime());
    assert.deepEqual(await missedBefore('late.once', start - 1_000), [], "'once': none of the older missed runs");
    const spec = checkSchedule({ name: 'x', task: 'demo.add', every: '1s' }).spec;
    const expectedAll = runsBetween(spec, lastRun, new Date(start - 1_000), 100).runs.map((d) => d.getTime()).filter((t) => t < start - 1_000);
    assert.deepEqual(await missedBefore('late.all', start - 1_000), expectedAll, "'all': every missed run, once");
    const windowed = await missedBefore('late.window', start - 1_000);
    assert.ok(windowed.every((t) => t > start - 6_000), "'all' within a 5 s window: nothing older than the window");
    assert.ok(windowed.length >= 3, 'the runs within the window fired');
  });
});

describe('pause and resume', () => {
  it('a paused schedule does not fire; resumed, it fires on from then, not the paused time', { timeout: 60_000 }, async () => {
    const demo = await demoApp();
    const definitions: Array<Omit<ScheduleConfig, 'options'>> = [
      { name: 'clock', task: 'demo.add', every: '1s', args: [1, 1] },
      { name: 'pausable', task: 'demo.add', every: '1s', args: [2, 2] },
    ];
    const beat = await beatWith([...definitions]);
    const admin = new ScheduleAdmin(ctx.pool, new Catalogue(demo.tasks), definitions.map((d) => checkSchedule({ ...d, options: { queue } })));
    await waitFor('the schedule to fire', async () => (await firesOf(ctx.pool, 'pausable')).length >= 2);
    await admin.pause('pausable');
    const pausedAt = Date.now();
    // A tick may have been under way: what it recorded is done; then nothing more.
    const clockAtPause = (await firesOf(ctx.pool, 'clock')).length;
    await waitFor('a tick after the pause', async () => (await firesOf(ctx.pool, 'clock')).length >= clockAtPause + 2);
    const whilePaused = (await firesOf(ctx.pool, 'pausable')).length;
    await waitFor('three more ticks', async () => (await firesOf(ctx.pool, 'clock')).length >= clockAtPause + 5);
    assert.equal((await firesOf(ctx.pool, 'pausable')).length, whilePaused, 'no run while paused');
    const resumedAt = Date.now();
    await admin.resume('pausable');
    await waitFor('runs after the resume', async () => (await firesOf(ctx.pool, 'pausable')).some((f) => f.scheduledAt.getTime() > resumedAt + 1_000));
    await beat.close();
    const gap = (await firesOf(ctx.pool, 'pausable')).filter((f) => f.scheduledAt.getTime() > pausedAt + 1_000 && f.scheduledAt.getTime() < resumedAt - 1_000);
    assert.deepEqual(gap, [], 'the paused time is not caught up');
  });
});
