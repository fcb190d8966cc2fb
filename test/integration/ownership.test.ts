/**
 * A key keeps access to its own task: the owner travels in the task message (the gateway's
 * PENDING row is best effort), and the retention sweep deletes only finished tasks.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { RetentionSweeper } from '../../worker/src/retention.js';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';

describe('task ownership', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('the owner key reads its task even when the PENDING row was never written', async () => {
    const queue = ctx.queue('owner');
    const gw = await ctx.startGateway({ config: { authMode: 'keys' } });
    const keys = new ApiKeyStore(ctx.pool);
    const alice = (await keys.create({ name: 'alice', scopes: 'demo.*,tasks:read' })).secret;
    const bob = (await keys.create({ name: 'bob', scopes: 'demo.*,tasks:read' })).secret;
    const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
    const submitted = await http<Task>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [2, 3], options: { queue } }, headers: auth(alice) });
    assert.equal(submitted.status, 202);
    const id = submitted.body.id;
    // As if the gateway's PENDING write had failed (database down, a poisoned batch).
    await waitFor('the PENDING row', async () => (await ctx.store.get(id)) !== undefined);
    await ctx.pool.query('DELETE FROM tasks WHERE id = $1', [id]);
    await ctx.startWorker({ queues: [queue] });
    await waitFor('the task to finish', async () => (await ctx.store.get(id))?.state === 'SUCCESS');
    const mine = await http<Task>(`${gw.url}/api/v1/tasks/${id}`, { headers: auth(alice) });
    assert.equal(mine.status, 200);
    assert.equal(mine.body.result, 5);
    const theirs = await http(`${gw.url}/api/v1/tasks/${id}`, { headers: auth(bob) });
    assert.equal(theirs.status, 404);
  });

  it('the retention sweep deletes old finished tasks only, never one still waiting', async () => {
    const ids = { pending: randomUUID(), retry: randomUUID(), started: randomUUID(), success: randomUUID(), failure: randomUUID() };
    for (const [state, id] of Object.entries(ids)) {
      await ctx.store.record({ id, name: 'demo.add', queue: 'q', state: state.toUpperCase() as 'PENDING', args: [], kwargs: {} });
    }
    // All of them last changed 40 days ago (a 30-day countdown is still waiting then).
    await ctx.pool.query(`UPDATE tasks SET updated_at = now() - interval '40 days'`);
    const sweeper = new RetentionSweeper(ctx.store, 7 * 24 * 3_600_000, createSilentLogger());
    await sweeper.sweep();
    const left = await Promise.all(Object.entries(ids).map(async ([state, id]) => [state, (await ctx.store.get(id)) !== undefined] as const));
    assert.deepEqual(Object.fromEntries(left), { pending: true, retry: true, started: true, success: false, failure: false });
  });
});
