/**
 * `terminate` and the edges of the revoke route, against the real broker and database: a
 * running in-process task's signal fires and a CPU task's thread is stopped, each ends REVOKED,
 * acked and not redelivered (and the pool keeps working); a finished task is unchanged; an
 * unknown id, another key's task and a bad body are refused.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';

describe('revoke with terminate', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('terminates a running in-process task: its signal fires, it ends REVOKED, acked and not run again', async () => {
    const queue = ctx.queue('sleep');
    const gw = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], concurrency: 2 });
    const id = (await http<Task>(`${gw.url}/api/v1/tasks/demo.sleep`, { json: { args: [600], options: { queue } } })).body.id;
    await waitFor('the task to start', async () => (await ctx.store.get(id))?.state === 'STARTED');
    // Without terminate a running task keeps running (Celery's semantics).
    const plain = await http<Task>(`${gw.url}/api/v1/tasks/${id}/revoke`, { json: {} });
    assert.equal(plain.status, 200);
    assert.equal(plain.body.state, 'STARTED');
    const terminated = await http<Task>(`${gw.url}/api/v1/tasks/${id}/revoke`, { json: { terminate: true } });
    assert.equal(terminated.status, 200);
    const row = await ctx.finalRow(id);
    assert.equal(row.state, 'REVOKED');
    assert.equal(row.error?.type, 'TaskRevokedError');
    await waitFor('the delivery to be acked', () => worker.inFlight === 0);
    assert.deepEqual(await ctx.queueDepth(queue), { exists: true, messages: 0, consumers: 1 });
    const recorded = await ctx.pool.query<{ terminate: boolean }>('SELECT terminate FROM revocations WHERE task_id = $1', [id]);
    assert.deepEqual(recorded.rows, [{ terminate: true }], 'a repeat with terminate adds it');
  });

  it('terminates a running CPU task: its thread is stopped, REVOKED, and the pool runs the next task', async () => {
    const queue = ctx.queue('fib');
    const gw = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], cpuThreads: 1, concurrency: 2 });
    // F(45) holds its thread for many seconds: only terminating the thread ends it.
    const id = (await http<Task>(`${gw.url}/api/v1/tasks/demo.fib`, { json: { args: [45], options: { queue } } })).body.id;
    await waitFor('the task to start', async () => (await ctx.store.get(id))?.state === 'STARTED');
    const terminated = await http<Task>(`${gw.url}/api/v1/tasks/${id}/revoke`, { json: { terminate: true } });
    assert.equal(terminated.status, 200);
    assert.equal((await ctx.finalRow(id)).state, 'REVOKED');
    await waitFor('the delivery to be acked', () => worker.inFlight === 0);
    const next = await http<Task>(`${gw.url}/api/v1/tasks/demo.fib?wait=30`, { json: { args: [20], options: { queue } } });
    assert.equal(next.status, 200);
    assert.equal(next.body.result, 6765);
    assert.equal((await ctx.queueDepth(queue)).messages, 0);
  });

  it('a finished task is unchanged; an unknown id is 404; a bad body is 400', async () => {
    const queue = ctx.queue('done');
    const gw = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const done = await http<Task>(`${gw.url}/api/v1/tasks/demo.add?wait=30`, { json: { args: [2, 3], options: { queue } } });
    assert.equal(done.body.state, 'SUCCESS');
    const again = await http<Task>(`${gw.url}/api/v1/tasks/${done.body.id}/revoke`, { json: { terminate: true } });
    assert.equal(again.status, 200);
    assert.equal(again.body.state, 'SUCCESS');
    assert.equal(again.body.result, 5);
    assert.equal((await ctx.store.get(done.body.id))?.state, 'SUCCESS');
    const none = await ctx.pool.query('SELECT 1 FROM revocations WHERE task_id = $1', [done.body.id]);
    assert.equal(none.rowCount, 0, 'nothing recorded for a finished task');

    const unknown = await http<{ error: { code: string } }>(`${gw.url}/api/v1/tasks/${randomUUID()}/revoke`, { json: {} });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'TASK_NOT_FOUND');
    const bad = await http<{ error: { code: string } }>(`${gw.url}/api/v1/tasks/${done.body.id}/revoke`, { json: { terminate: 'yes' } });
    assert.equal(bad.status, 400);
    const extra = await http(`${gw.url}/api/v1/tasks/${done.body.id}/revoke`, { json: { terminate: true, now: 1 } });
    assert.equal(extra.status, 400);
  });

  it('with API keys: the owner and an admin may revoke; another key gets 404 and changes nothing', async () => {
    const queue = ctx.queue('keys');
    const gw = await ctx.startGateway({ config: { authMode: 'keys' } });
    const keys = new ApiKeyStore(ctx.pool);
    const alice = (await keys.create({ name: 'alice', scopes: 'demo.*' })).secret;
    const bob = (await keys.create({ name: 'bob', scopes: 'demo.*,tasks:read' })).secret;
    const admin = (await keys.create({ name: 'ops', scopes: 'admin' })).secret;
    const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
    const submit = async (): Promise<string> => (await http<Task>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue } }, headers: auth(alice) })).body.id;
    const first = await submit();
    const theirs = await http(`${gw.url}/api/v1/tasks/${first}/revoke`, { json: {}, headers: auth(bob) });
    assert.equal(theirs.status, 404);
    assert.notEqual((await ctx.store.get(first))?.state, 'REVOKED');
    const anonymous = await http(`${gw.url}/api/v1/tasks/${first}/revoke`, { json: {} });
    assert.equal(anonymous.status, 401);
    const mine = await http<Task>(`${gw.url}/api/v1/tasks/${first}/revoke`, { json: {}, headers: auth(alice) });
    assert.equal(mine.status, 200);
    assert.equal(mine.body.state, 'REVOKED');
    const second = await submit();
    const byAdmin = await http<Task>(`${gw.url}/api/v1/tasks/${second}/revoke`, { json: { terminate: true }, headers: auth(admin) });
    assert.equal(byAdmin.status, 200);
    assert.equal(byAdmin.body.state, 'REVOKED');
    const who = await ctx.pool.query<{ task_id: string; revoked_by: string }>('SELECT task_id, revoked_by FROM revocations ORDER BY revoked_at');
    const ids = await keys.list();
    const idOf = (name: string): string | undefined => ids.find((k) => k.name === name)?.id;
    assert.deepEqual(who.rows.map((r) => r.revoked_by), [idOf('alice'), idOf('ops')]);
  });
});
