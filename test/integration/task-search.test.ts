/** GET /api/v1/tasks: filters and keyset paging over the PostgreSQL store. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestContext, http, waitForState, type Task } from '../helpers/harness.js';

interface Page {
  tasks: Task[];
  nextCursor: string | null;
}

describe('task search', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('filters by id, name, state and time, and pages without gaps or repeats', async () => {
    const queue = ctx.queue('search');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [i, 1], options: { queue } } });
      ids.push(res.body.id);
    }
    const failed = await http<Task>(`${url}/api/v1/tasks/demo.fail`, { json: { args: ['x'], options: { queue } } });
    for (const id of ids) await waitForState(url, id, ['SUCCESS']);
    await waitForState(url, failed.body.id, ['FAILURE']);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `name=demo.add&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page: { status: number; body: Page } = await http<Page>(`${url}/api/v1/tasks?${q}`);
      assert.equal(page.status, 200);
      seen.push(...page.body.tasks.map((t) => t.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    assert.deepEqual([...seen].sort(), [...ids].sort(), 'every demo.add task exactly once');
    assert.equal(new Set(seen).size, seen.length);
    assert.ok(pages >= 3);

    const byState = await http<Page>(`${url}/api/v1/tasks?state=failure`);
    assert.deepEqual(byState.body.tasks.map((t) => t.id), [failed.body.id]);
    assert.equal(byState.body.tasks[0]?.error?.message, 'x');
    const both = await http<Page>(`${url}/api/v1/tasks?state=SUCCESS,FAILURE`);
    assert.equal(both.body.tasks.length, 6);
    const one = await http<Page>(`${url}/api/v1/tasks?id=${ids[2]}`);
    assert.deepEqual(one.body.tasks.map((t) => t.result), [3]);
    assert.equal(one.body.nextCursor, null);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    assert.equal((await http<Page>(`${url}/api/v1/tasks?from=${encodeURIComponent(future)}`)).body.tasks.length, 0);
    assert.equal((await http<Page>(`${url}/api/v1/tasks?to=${encodeURIComponent(future)}&queue=${queue}`)).body.tasks.length, 6);
  });

  it('refuses bad parameters with a clear 400', async () => {
    const { url } = await ctx.startGateway();
    for (const [query, words] of [
      ['state=DONE', 'state'],
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['from=yesterday', 'from'],
      ['cursor=notacursor', 'cursor'],
      ['colour=red', 'colour'],
    ] as const) {
      const res = await http<{ error: { code: string; message: string } }>(`${url}/api/v1/tasks?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error.code, 'INVALID_REQUEST');
      assert.match(res.body.error.message, new RegExp(words, 'i'), query);
    }
  });
});
