/**
 * A chord's body runs exactly once: header tasks ending at the same instant, ending twice
 * (a redelivered copy), or caught by a worker killed with SIGKILL mid-chord, count once each,
 * and exactly one end sees the last count. Against the real RabbitMQ and PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WorkflowStore } from '../../shared/src/store/workflow-store.js';
import { TestContext, http, waitFor } from '../helpers/harness.js';

interface Started {
  id: string;
  tasks: { id: string; name: string }[];
}

/** "task succeeded" lines a worker logged for task `id` (its JSON log). */
function runsOf(output: string, id: string): number {
  return output.split('\n').filter((line) => line.includes('"task succeeded"') && line.includes(id)).length;
}

describe('chord body exactly once', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('header ends counted concurrently and repeated: exactly one of them makes the body due', async () => {
    const workflows = new WorkflowStore(ctx.pool);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.array(fc.nat(), { maxLength: 12 }), async (size, repeats) => {
        const id = randomUUID();
        const header = Array.from({ length: size }, (_, i) => ({ taskId: randomUUID(), name: 'demo.add', position: i, role: 'header' as const }));
        await workflows.create({ id, kind: 'chord', tasks: [...header, { taskId: randomUUID(), name: 'demo.sum', position: size, role: 'body' }] });
        for (const [i, h] of header.entries()) {
          await ctx.store.record({ id: h.taskId, name: 'demo.add', queue: 'q', state: 'SUCCESS', result: i, finishedAt: new Date() });
        }
        // Every header task ends once, some again (redelivered copies), all at the same time.
        const ends = [...header, ...repeats.map((r) => header[r % size]!)];
        const decisions = await Promise.all(ends.map((h) => workflows.taskEnded(id, h.taskId, { state: 'SUCCESS', result: h.position, error: null })));
        // Exactly one end counted last; a copy ending again before the body is marked sent is told
        // to send it again (its first sender may have died), under the same body task id.
        const due = decisions.filter((d) => d.kind === 'publish-body');
        assert.equal(due.filter((d) => !d.again).length, 1, `one end made the body due: ${JSON.stringify(decisions)}`);
        for (const d of due) assert.deepEqual(d.results, header.map((_, i) => i));
        await workflows.bodyPublished(id);
        const later = await workflows.taskEnded(id, header[0]!.taskId, { state: 'SUCCESS', result: 0, error: null });
        assert.deepEqual(later, { kind: 'none', why: 'body-published' });
        const { rows } = await ctx.pool.query<{ completed: number }>('SELECT completed FROM workflows WHERE id = $1', [id]);
        assert.equal(rows[0]!.completed, size);
      }),
      { numRuns: 25 },
    );
  });

  it('a worker killed after a header task’s commit, before its ack: the redelivered copy counts once, the body runs once', async () => {
    const queue = ctx.queue('chordkill');
    const { url } = await ctx.startGateway();
    const header = Array.from({ length: 4 }, (_, i) => ({ name: 'demo.add', args: [i, 10], options: { queue } }));
    const res = await http<Started>(`${url}/api/v1/workflows`, { json: { chord: { header, body: { name: 'demo.sum', options: { queue } } } } });
    assert.equal(res.status, 202);
    const bodyId = res.body.tasks[4]!.id;
    const victim = await ctx.spawnWorker([queue], { CELERITY_FAULT_POINT: 'after-commit', WORKER_CONCURRENCY: '1' });
    const exit = await victim.exited;
    assert.equal(exit.signal, 'SIGKILL', victim.output().slice(-2000));
    const survivor = await ctx.spawnWorker([queue]);
    const wf = await http<{ state: string; result: unknown }>(`${url}/api/v1/workflows/${res.body.id}?wait=60`);
    assert.equal(wf.body.state, 'SUCCESS', JSON.stringify(wf.body));
    assert.equal(wf.body.result, 46);
    assert.match(survivor.output(), /redelivered task already finished; not running it again/);
    await waitFor('the body to be logged', () => runsOf(survivor.output(), bodyId) > 0);
    assert.equal(runsOf(victim.output(), bodyId) + runsOf(survivor.output(), bodyId), 1, 'the body ran once');
    const { rows } = await ctx.pool.query<{ completed: number }>('SELECT completed FROM workflows WHERE id = $1', [res.body.id]);
    assert.equal(rows[0]!.completed, 4, 'each header task counted once');
  });

  it('kill -9 of a worker mid-chord: its header tasks run again elsewhere and the body still runs once', async () => {
    const queue = ctx.queue('chordmid');
    const { url } = await ctx.startGateway();
    const header = Array.from({ length: 6 }, () => ({ name: 'demo.sleep', args: [0.5], options: { queue } }));
    const res = await http<Started>(`${url}/api/v1/workflows`, { json: { chord: { header, body: { name: 'demo.sum', options: { queue } } } } });
    assert.equal(res.status, 202);
    const bodyId = res.body.tasks[6]!.id;
    const victim = await ctx.spawnWorker([queue], { WORKER_CONCURRENCY: '3' });
    // Killed while header tasks run (STARTED, not final): their messages go back to the queue.
    await waitFor('header tasks to be running', async () => {
      const { rows } = await ctx.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND state = 'STARTED'`, [res.body.tasks.map((t) => t.id)]);
      return rows[0]!.n > 0;
    });
    victim.child.kill('SIGKILL');
    await victim.exited;
    const survivors = [await ctx.spawnWorker([queue], { WORKER_CONCURRENCY: '4' }), await ctx.spawnWorker([queue], { WORKER_CONCURRENCY: '4' })];
    const wf = await http<{ state: string; result: unknown }>(`${url}/api/v1/workflows/${res.body.id}?wait=60`);
    assert.equal(wf.body.state, 'SUCCESS', JSON.stringify(wf.body));
    assert.equal(wf.body.result, 3);
    const outputs = () => [victim.output(), ...survivors.map((s) => s.output())];
    await waitFor('the body to be logged', () => outputs().some((o) => runsOf(o, bodyId) > 0));
    assert.equal(outputs().reduce((n, o) => n + runsOf(o, bodyId), 0), 1, 'the body ran once');
    const { rows } = await ctx.pool.query<{ completed: number }>('SELECT completed FROM workflows WHERE id = $1', [res.body.id]);
    assert.equal(rows[0]!.completed, 6);
  });
});
