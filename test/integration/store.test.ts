/** The result store against real PostgreSQL: migrations, forward-only writes, batching, retention. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MIGRATIONS } from '../../shared/src/store/migrations.js';
import { createPool } from '../../shared/src/store/pool.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { migrate } from '../../shared/src/store/migrate.js';
import { TaskStore } from '../../shared/src/store/store.js';
import { type TaskWrite } from '../../shared/src/core/task.js';
import { TestContext, TEST_DATABASE_URL } from '../helpers/harness.js';

const logger = createSilentLogger();

function write(id: string, state: TaskWrite['state'], extra: Partial<TaskWrite> = {}): TaskWrite {
  return { id, name: 'demo.add', queue: 'q', state, args: [1, 2], kwargs: {}, ...extra };
}

describe('result store', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('migrations are safe to run again and from several processes at once', async () => {
    const pools = Array.from({ length: 4 }, () =>
      createPool({ url: TEST_DATABASE_URL, schema: ctx.schema, logger, applicationName: 'migrate-test', max: 1 }),
    );
    try {
      const results = await Promise.all(pools.map((p) => migrate(p, ctx.schema, logger)));
      for (const r of results) assert.deepEqual(r, { applied: [], current: Math.max(...MIGRATIONS.map((m) => m.id)) });
      const { rows } = await ctx.pool.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations');
      assert.equal(rows[0]?.n, String(MIGRATIONS.length));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('a late PENDING never overwrites SUCCESS, and keeps the earlier createdAt', async () => {
    const created = new Date(Date.now() - 60_000);
    await ctx.store.record(write('t1', 'SUCCESS', { result: 3, finishedAt: new Date(), startedAt: new Date(), createdAt: new Date() }));
    await ctx.store.record(write('t1', 'PENDING', { createdAt: created }));
    await ctx.store.record(write('t1', 'STARTED', { startedAt: new Date() }));
    const task = await ctx.store.get('t1');
    assert.equal(task?.state, 'SUCCESS');
    assert.equal(task?.result, 3);
    assert.equal(task?.createdAt.getTime(), created.getTime());
  });

  it('a later attempt outranks an earlier one; a final state outranks any attempt', async () => {
    await ctx.store.record(write('t2', 'RETRY', { retries: 0, error: { type: 'E', message: 'first' } }));
    await ctx.store.record(write('t2', 'STARTED', { retries: 1 }));
    assert.equal((await ctx.store.get('t2'))?.state, 'STARTED');
    await ctx.store.record(write('t2', 'RETRY', { retries: 0 }));
    assert.equal((await ctx.store.get('t2'))?.retries, 1, 'an earlier attempt’s RETRY arriving late is ignored');
    await ctx.store.record(write('t2', 'FAILURE', { retries: 1, error: { type: 'E', message: 'last' }, finishedAt: new Date() }));
    await ctx.store.record(write('t2', 'STARTED', { retries: 5 }));
    const task = await ctx.store.get('t2');
    assert.equal(task?.state, 'FAILURE');
    assert.deepEqual(task?.error, { type: 'E', message: 'last' });
  });

  it('writes in the same tick share one statement; concurrent batches over the same rows do not deadlock', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => `b${i}`);
    await Promise.all(ids.map((id) => ctx.store.record(write(id, 'PENDING'))));
    // Two stores (like a gateway and a worker) hammering the same rows in opposite orders.
    const other = new TaskStore(ctx.pool, { logger, maxBatch: 50 });
    await Promise.all([
      ...ids.map((id) => ctx.store.record(write(id, 'STARTED', { startedAt: new Date() }))),
      ...[...ids].reverse().map((id) => other.record(write(id, 'SUCCESS', { result: id, finishedAt: new Date() }))),
    ]);
    const { rows } = await ctx.pool.query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM tasks GROUP BY state');
    assert.deepEqual(rows, [{ state: 'SUCCESS', n: '300' }]);
  });

  it('JSON values survive: unicode, nesting, null results', async () => {
    const args = ['日本語 ✓', { a: [1, { b: null }] }];
    await ctx.store.record(write('j1', 'SUCCESS', { args, result: null, finishedAt: new Date() }));
    await ctx.store.record(write('j2', 'SUCCESS', { args, result: { deep: ['x', 1.5, true] }, finishedAt: new Date() }));
    assert.deepEqual((await ctx.store.get('j1'))?.args, args);
    assert.equal((await ctx.store.get('j1'))?.result, null);
    assert.deepEqual((await ctx.store.get('j2'))?.result, { deep: ['x', 1.5, true] });
  });

  it('getFinished returns only finished tasks among the ids asked', async () => {
    await ctx.store.record(write('f1', 'SUCCESS', { finishedAt: new Date() }));
    await ctx.store.record(write('f2', 'STARTED'));
    await ctx.store.record(write('f3', 'FAILURE', { finishedAt: new Date() }));
    const finished = await ctx.store.getFinished(['f1', 'f2', 'f3', 'missing']);
    assert.deepEqual(finished.map((t) => t.id).sort(), ['f1', 'f3']);
  });

  it('the retention sweep deletes finished tasks last changed before the cutoff, and only those', async () => {
    await ctx.store.record(write('old1', 'SUCCESS', { finishedAt: new Date() }));
    await ctx.store.record(write('old2', 'PENDING'));
    await ctx.store.record(write('new1', 'SUCCESS', { finishedAt: new Date() }));
    await ctx.pool.query(`UPDATE tasks SET updated_at = now() - interval '10 days' WHERE id LIKE 'old%'`);
    const deleted = await ctx.store.deleteExpired(new Date(Date.now() - 7 * 24 * 3600 * 1000), 1);
    assert.equal(deleted, 1);
    assert.equal(await ctx.store.get('old1'), undefined);
    assert.ok(await ctx.store.get('old2'), 'a task not finished is never swept (it may still be waiting)');
    assert.ok(await ctx.store.get('new1'));
  });
});
