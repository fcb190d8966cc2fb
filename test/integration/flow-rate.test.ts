/**
 * Keyed, fleet-wide rate limits (defineTask's `rateLimit`, ctx.backoff, RateLimitedError)
 * against the real RabbitMQ and PostgreSQL: the pace of a limited task over three worker
 * processes, pauses that hold back only their key, key functions that fail, and the SQL of
 * the reservation agreeing with its rule (worker/src/flow/rate-gcra.ts).
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadApp, type LoadedApp } from '../../shared/src/app/load-app.js';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';
import { mustReserveAgain, pause, reserve, type RateState } from '../../worker/src/flow/rate-gcra.js';
import { PAUSE_RATE, RESERVE_RATE } from '../../worker/src/flow/rate-statements.js';
import { TYPE_PAUSES_FRESH_MS } from '../../worker/src/flow/rate-gate.js';
import { RateStore } from '../../worker/src/flow/rate-store.js';
import { metricValue, scrape } from '../helpers/prom.js';

/** Path of the compiled rate test app (test/fixtures/rate-app.ts). */
const RATE_APP = new URL('../fixtures/rate-app.js', import.meta.url).pathname;

interface BatchBody {
  tasks: Task[];
}

/** Submits `tasks` through the gateway in batches of at most 1000; their ids in order. */
async function submitAll(url: string, tasks: Array<{ name: string; args?: unknown[]; kwargs?: Record<string, unknown>; options: { queue: string } }>): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < tasks.length; i += 1000) {
    const res = await http<BatchBody>(`${url}/api/v1/tasks`, { json: { tasks: tasks.slice(i, i + 1000) } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    ids.push(...res.body.tasks.map((t) => t.id));
  }
  return ids;
}

describe('keyed rate limits', () => {
  let ctx: TestContext;
  let app: LoadedApp;
  beforeEach(async () => {
    ctx = await TestContext.create();
    app = await loadApp(RATE_APP);
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  /** The rows of these tasks once every one is final. */
  async function finalRows(ids: string[], timeoutMs = 60_000): Promise<Array<{ id: string; state: string; started_at: Date; retries: number; attempts: number; error_type: string | null; error_message: string | null }>> {
    return waitFor(`${ids.length} tasks to be final`, async () => {
      const { rows } = await ctx.pool.query<{ id: string; state: string; started_at: Date; retries: number; attempts: number; error_type: string | null; error_message: string | null }>(
        `SELECT id, state, started_at, retries, attempts, error_type, error_message FROM tasks WHERE id = ANY($1::text[]) AND state IN ('SUCCESS', 'FAILURE', 'REVOKED')`,
        [ids],
      );
      return rows.length === ids.length ? rows : undefined;
    }, { timeoutMs, everyMs: 250 });
  }

  it('paces 2,000 tasks limited to 50/s over three worker processes at 50 starts a second (within 10 %)', async (t) => {
    const queue = ctx.queue('steady');
    const { url } = await ctx.startGateway({ tasks: app.tasks });
    for (let i = 0; i < 3; i++) await ctx.spawnWorker([queue], { WORKER_CONCURRENCY: '16' }, RATE_APP);
    const ids = await submitAll(url, Array.from({ length: 2_000 }, (_, i) => ({ name: 'rate.test.steady', args: [i], options: { queue } })));
    const rows = await finalRows(ids, 120_000);
    assert.ok(rows.every((row) => row.state === 'SUCCESS'), 'every task succeeded');
    const starts = rows.map((row) => row.started_at.getTime()).sort((a, b) => a - b);
    const first = starts[0] ?? 0;
    // After the first second: the rate over the rest of the run, from the stored start times.
    const steadyStarts = starts.filter((t) => t >= first + 1_000);
    const span = ((steadyStarts.at(-1) ?? 0) - (steadyStarts[0] ?? 0)) / 1_000;
    const perSecond = (steadyStarts.length - 1) / span;
    t.diagnostic(`${perSecond.toFixed(2)} starts a second over ${span.toFixed(1)} s after the first second`);
    assert.ok(perSecond >= 45 && perSecond <= 55, `${perSecond.toFixed(2)} starts a second over ${span.toFixed(1)} s (want 50 ± 10 %)`);
  });

  for (const how of ['backoff', 'error'] as const) {
    const call = how === 'backoff' ? 'ctx.backoff(2)' : 'throw new RateLimitedError({ retryAfterS: 2 })';
    it(`${call} pauses only its key, for everyone; the task runs again after it, not counted as a failure or a retry`, async () => {
      const queue = ctx.queue(`pause-${how}`);
      const markers = await mkdtemp(join(tmpdir(), 'celerity-rate-'));
      ctx.defer(() => rm(markers, { recursive: true, force: true }));
      const { url } = await ctx.startGateway({ tasks: app.tasks });
      const workers = [
        await ctx.startWorker({ queues: [queue], tasks: app.tasks, appUrl: app.url, metrics: true }),
        await ctx.startWorker({ queues: [queue], tasks: app.tasks, appUrl: app.url, metrics: true }),
      ];
      const [pauser] = await submitAll(url, [{ name: 'rate.test.keyed', kwargs: { account: 'a', pauseOnce: join(markers, 'a'), how }, options: { queue } }]);
      assert.ok(pauser);
      const pausedUntil = await waitFor('key "a" to be paused', async () => {
        const { rows } = await ctx.pool.query<{ paused_until: Date | null }>(`SELECT paused_until FROM flow_rates WHERE task_name = 'rate.test.keyed' AND flow_key = 'a'`);
        return rows[0]?.paused_until ?? undefined;
      });
      const during = await ctx.store.get(pauser);
      assert.equal(during?.state, 'STARTED', 'a paused task shows STARTED while it waits');
      const others = await submitAll(url, ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b'].map((account) => ({ name: 'rate.test.keyed', kwargs: { account }, options: { queue } })));
      const rows = await finalRows([pauser, ...others]);
      assert.ok(rows.every((row) => row.state === 'SUCCESS'), JSON.stringify(rows.filter((row) => row.state !== 'SUCCESS')));
      const byId = new Map(rows.map((row) => [row.id, row]));
      const submitted = await Promise.all(others.map(async (id) => ({ id, account: (await ctx.store.get(id))?.kwargs?.account })));
      for (const { id, account } of submitted) {
        const started = byId.get(id)?.started_at.getTime() ?? 0;
        if (account === 'a') assert.ok(started >= pausedUntil.getTime(), `a task of the paused key started ${pausedUntil.getTime() - started} ms before the pause ended`);
        else assert.ok(started < pausedUntil.getTime(), 'a task of another key ran during the pause');
      }
      const again = byId.get(pauser);
      assert.ok(again && again.started_at.getTime() >= pausedUntil.getTime(), 'the paused task ran again after the pause');
      assert.equal(again.retries, 0, 'not a retry');
      assert.equal(again.attempts, 1, 'the paused run is not counted as an attempt');
      // Summed over both workers: one pause; the paused task and the four of its key each waited at least once.
      const total = async (name: string): Promise<number> => {
        let sum = 0;
        for (const worker of workers) sum += metricValue(await scrape(`http://127.0.0.1:${worker.metricsPort}/metrics`), name, { task: 'rate.test.keyed' }) ?? 0;
        return sum;
      };
      assert.equal(await total('celerity_rate_limit_paused_total'), 1);
      assert.ok((await total('celerity_rate_limit_deferred_total')) >= 5);
    });
  }

  it('a pause of a task type without rateLimit holds back that type as a whole, and no other', async () => {
    const queue = ctx.queue('pause-type');
    const markers = await mkdtemp(join(tmpdir(), 'celerity-rate-'));
    ctx.defer(() => rm(markers, { recursive: true, force: true }));
    const { url } = await ctx.startGateway({ tasks: app.tasks });
    await ctx.startWorker({ queues: [queue], tasks: app.tasks, appUrl: app.url });
    await ctx.startWorker({ queues: [queue], tasks: app.tasks, appUrl: app.url });
    const [pauser] = await submitAll(url, [{ name: 'rate.test.unlimited', kwargs: { n: 0, pauseOnce: join(markers, 'x') }, options: { queue } }]);
    assert.ok(pauser);
    const { pausedUntil, pausedAt } = await waitFor('the type to be paused', async () => {
      const { rows } = await ctx.pool.query<{ paused_until: Date | null; updated_at: Date }>(`SELECT paused_until, updated_at FROM flow_rates WHERE task_name = 'rate.test.unlimited' AND flow_key = ''`);
      const row = rows[0];
      return row?.paused_until ? { pausedUntil: row.paused_until, pausedAt: row.updated_at } : undefined;
    });
    // The documented bound: every worker sees a pause of a type without rateLimit within TYPE_PAUSES_FRESH_MS.
    await waitFor('the pause to reach every worker', () => Date.now() > pausedAt.getTime() + TYPE_PAUSES_FRESH_MS);
    const same = await submitAll(url, [1, 2, 3].map((n) => ({ name: 'rate.test.unlimited', kwargs: { n }, options: { queue } })));
    const other = await submitAll(url, ['b', 'c'].map((account) => ({ name: 'rate.test.keyed', kwargs: { account }, options: { queue } })));
    const rows = new Map((await finalRows([pauser, ...same, ...other])).map((row) => [row.id, row]));
    for (const id of [pauser, ...same]) {
      const row = rows.get(id);
      assert.equal(row?.state, 'SUCCESS');
      assert.ok(row.started_at.getTime() >= pausedUntil.getTime(), `a task of the paused type started ${pausedUntil.getTime() - row.started_at.getTime()} ms before the pause ended`);
    }
    for (const id of other) assert.ok((rows.get(id)?.started_at.getTime() ?? Infinity) < pausedUntil.getTime(), 'another task type ran during the pause');
  });

  it('a CPU task pauses its key from the thread pool the same way', async () => {
    const queue = ctx.queue('pause-cpu');
    const markers = await mkdtemp(join(tmpdir(), 'celerity-rate-'));
    ctx.defer(() => rm(markers, { recursive: true, force: true }));
    const { url } = await ctx.startGateway({ tasks: app.tasks });
    await ctx.startWorker({ queues: [queue], tasks: app.tasks, appUrl: app.url });
    const [id] = await submitAll(url, [{ name: 'rate.test.cpu', kwargs: { n: 7, pauseOnce: join(markers, 'cpu') }, options: { queue } }]);
    assert.ok(id);
    const [row] = await finalRows([id]);
    const { rows } = await ctx.pool.query<{ paused_until: Date }>(`SELECT paused_until FROM flow_rates WHERE task_name = 'rate.test.cpu' AND flow_key = ''`);
    assert.ok(row && rows[0]?.paused_until, 'the key was paused');
    assert.equal(row.state, 'SUCCESS');
    assert.ok(row.started_at.getTime() >= rows[0].paused_until.getTime(), 'it ran again after the pause');
    assert.equal(row.attempts, 1);
  });

  it('a key function that throws or returns a non-string fails that task with a clear error; its neighbour succeeds', async () => {
    const queue = ctx.queue('bad-key');
    const { url } = await ctx.startGateway({ tasks: app.tasks });
    await ctx.startWorker({ queues: [queue], tasks: app.tasks, appUrl: app.url });
    const [throws, number, good] = await submitAll(url, ['throw', 42, 'fine'].map((account) => ({ name: 'rate.test.keyed', kwargs: { account }, options: { queue } })));
    assert.ok(throws && number && good);
    const rows = new Map((await finalRows([throws, number, good])).map((row) => [row.id, row]));
    assert.equal(rows.get(good)?.state, 'SUCCESS');
    for (const [id, text] of [[throws, 'rateLimit.key threw: no account for this one'], [number, 'rateLimit.key must return a string, got number']] as const) {
      const row = rows.get(id);
      assert.equal(row?.state, 'FAILURE');
      assert.equal(row.error_type, 'InvalidFlowKeyError');
      assert.ok(row.error_message?.includes(text), row.error_message ?? '');
      assert.ok(row.error_message?.includes('rate.test.keyed'), 'the error names the task');
    }
  });

  it('the reservation and pause statements follow the rule of rate-gcra.ts', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('reserve' as const), costMs: fc.double({ min: 0.5, max: 500, noNaN: true }) }),
      fc.record({ kind: fc.constant('pause' as const), pauseMs: fc.integer({ min: 1, max: 5_000 }) }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        const key = `k${run++}`;
        let model: RateState | undefined;
        for (const step of ops) {
          if (step.kind === 'reserve') {
            const { rows } = await ctx.pool.query<{ reserved_at: Date; now: Date }>(RESERVE_RATE, ['prop', key, step.costMs, null]);
            const row = rows[0];
            assert.ok(row);
            const expected = reserve(model, row.now.getTime(), step.costMs);
            // Timestamps are kept to the microsecond, JavaScript dates to the millisecond.
            assert.ok(Math.abs(row.reserved_at.getTime() - expected.reservedAtMs) <= 1.5, `reserved ${row.reserved_at.toISOString()}, rule says ${new Date(expected.reservedAtMs).toISOString()}`);
            model = expected.state;
          } else {
            const { rows } = await ctx.pool.query<{ paused_until: Date; now: Date }>(PAUSE_RATE, ['prop', key, step.pauseMs, 'no-such-task', null]);
            const row = rows[0];
            assert.ok(row);
            model = pause(model, row.now.getTime(), step.pauseMs);
            assert.ok(Math.abs(row.paused_until.getTime() - (model.pausedUntilMs ?? 0)) <= 1.5, 'paused until what the rule says');
          }
        }
      }),
      { numRuns: 25 },
    );
  });

  it('a held reservation stands until its key is paused past it; then the task reserves again, after the pause', async () => {
    const rates = new RateStore(ctx.pool);
    const held = await rates.reserve('held', 'k', 1_000, undefined);
    assert.ok(held);
    assert.equal(await rates.reserve('held', 'k', 1_000, held.reservedAt), undefined, 'no pause since: it stands, nothing is spent');
    const end = await rates.pause('held', 'k', 60_000, 'no-such-task', undefined);
    const again = await rates.reserve('held', 'k', 1_000, held.reservedAt);
    assert.ok(again && again.reservedAt.getTime() >= end.until.getTime(), 'reserved again, not before the pause ends');
    assert.ok(mustReserveAgain(held.reservedAt.getTime(), end.until.getTime()), 'as the rule says');
  });

  it('the retention sweep forgets keys idle since its cutoff, and only those', async () => {
    const rates = new RateStore(ctx.pool);
    await rates.reserve('sweep', 'idle', 10, undefined);
    await rates.pause('sweep', 'paused', 3_600_000, 'no-such-task', undefined);
    assert.equal(await rates.deleteIdle(new Date(Date.now() + 60_000)), 1, 'the idle key goes; the key paused for an hour stays');
    const { rows } = await ctx.pool.query<{ flow_key: string }>(`SELECT flow_key FROM flow_rates WHERE task_name = 'sweep'`);
    assert.deepEqual(rows.map((row) => row.flow_key), ['paused']);
  });
});
