/** Workflows (chain, group, chord) through `/api/v1/workflows`, against the real RabbitMQ and PostgreSQL. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestContext, http } from '../helpers/harness.js';

interface Started {
  id: string;
  tasks: { id: string; name: string }[];
}
interface WorkflowBody {
  id: string;
  kind: string;
  state: string;
  result: unknown;
  error: { type: string; message: string; taskId: string } | null;
  tasks: { id: string; name: string; role: string; position: number; state: string; result: unknown }[];
}
interface ErrorBody {
  error: { code: string; message: string };
}

describe('workflows over HTTP', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  async function start(url: string, body: unknown): Promise<Started> {
    const res = await http<Started>(`${url}/api/v1/workflows`, { json: body });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.headers.get('location'), `/api/v1/workflows/${res.body.id}`);
    return res.body;
  }

  async function finished(url: string, id: string): Promise<WorkflowBody> {
    const res = await http<WorkflowBody>(`${url}/api/v1/workflows/${id}?wait=30`);
    assert.equal(res.status, 200);
    assert.ok(res.body.state === 'SUCCESS' || res.body.state === 'FAILURE', `workflow final: ${JSON.stringify(res.body)}`);
    return res.body;
  }

  it('a chain passes each result on as the next first argument; its result is the last step’s', async () => {
    const queue = ctx.queue('chain');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const options = { queue };
    const started = await start(url, { chain: [{ name: 'demo.add', args: [1, 2], options }, { name: 'demo.add', args: [3], options }, { name: 'demo.add', args: [4], options }] });
    assert.deepEqual(started.tasks.map((t) => t.name), ['demo.add', 'demo.add', 'demo.add']);
    const wf = await finished(url, started.id);
    assert.equal(wf.state, 'SUCCESS');
    assert.equal(wf.result, 10);
    assert.deepEqual(wf.tasks.map((t) => [t.id, t.state, t.result]), [[started.tasks[0]!.id, 'SUCCESS', 3], [started.tasks[1]!.id, 'SUCCESS', 6], [started.tasks[2]!.id, 'SUCCESS', 10]]);
    const second = await ctx.finalRow(started.tasks[1]!.id);
    assert.deepEqual(second.args, [3, 3], 'the previous result was prepended');
  });

  it('a chain stops at the first failure: the rest never run and the workflow fails with that cause', async () => {
    const queue = ctx.queue('chainfail');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const options = { queue };
    const started = await start(url, { chain: [{ name: 'demo.add', args: [1, 2], options }, { name: 'demo.fail', args: [], options }, { name: 'demo.add', args: [4], options }] });
    const wf = await finished(url, started.id);
    assert.equal(wf.state, 'FAILURE');
    // demo.fail got [3]: not a string, so its worker refused the arguments it now had.
    assert.equal(wf.error?.taskId, started.tasks[1]!.id);
    assert.equal(wf.error?.type, 'InvalidArgumentsError');
    assert.equal(wf.tasks[2]!.state, 'PENDING');
    assert.equal(await ctx.store.get(started.tasks[2]!.id), undefined, 'the step after the failure was never sent');

    const raised = await start(url, { chain: [{ name: 'demo.fail', args: ['boom'], options }, { name: 'demo.add', args: [1], options }] });
    const failed = await finished(url, raised.id);
    assert.equal(failed.state, 'FAILURE');
    assert.deepEqual(failed.error, { type: 'PermanentError', message: 'boom', taskId: raised.tasks[0]!.id });
  });

  it('a group runs its tasks in parallel and its result is their results in order; one failure fails it', async () => {
    const queue = ctx.queue('group');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue], concurrency: 8 });
    const steps = Array.from({ length: 40 }, (_, i) => ({ name: 'demo.add', args: [i, i], options: { queue } }));
    const wf = await finished(url, (await start(url, { group: steps })).id);
    assert.equal(wf.state, 'SUCCESS');
    assert.deepEqual(wf.result, steps.map((_, i) => 2 * i));
    const { rows } = await ctx.pool.query<{ completed: number; size: number }>('SELECT completed, size FROM workflows WHERE id = $1', [wf.id]);
    assert.deepEqual(rows[0], { completed: 40, size: 40 });

    const mixed = await start(url, { group: [{ name: 'demo.add', args: [1, 1], options: { queue } }, { name: 'demo.fail', args: ['no'], options: { queue } }, { name: 'demo.add', args: [2, 2], options: { queue } }] });
    const failed = await finished(url, mixed.id);
    assert.equal(failed.state, 'FAILURE');
    assert.deepEqual(failed.error, { type: 'PermanentError', message: 'no', taskId: mixed.tasks[1]!.id });
  });

  it('a chord runs its body once with the header’s results; a failed header task fails it and the body never runs', async () => {
    const queue = ctx.queue('chord');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], concurrency: 8 });
    const header = Array.from({ length: 20 }, (_, i) => ({ name: 'demo.add', args: [i, 1], options: { queue } }));
    const started = await start(url, { chord: { header, body: { name: 'demo.sum', options: { queue } } } });
    assert.equal(started.tasks.length, 21);
    const wf = await finished(url, started.id);
    assert.equal(wf.state, 'SUCCESS');
    assert.equal(wf.result, header.reduce((sum, _, i) => sum + i + 1, 0));
    const body = await ctx.finalRow(started.tasks[20]!.id);
    assert.deepEqual(body.args, [header.map((_, i) => i + 1)]);
    assert.equal(wf.tasks[20]!.role, 'body');
    const sends = await worker.metrics.registry.getSingleMetricAsString('celerity_worker_canvas_sends_total');
    assert.match(sends, /kind="chord-body",service="worker"\} 1$/m, 'one chord body sent');
    assert.match(sends, /kind="chain",service="worker"\} 0$/m);

    const failing = await start(url, { chord: { header: [{ name: 'demo.add', args: [1, 1], options: { queue } }, { name: 'demo.fail', args: ['header broke'], options: { queue } }], body: { name: 'demo.sum', options: { queue } } } });
    const failed = await finished(url, failing.id);
    assert.equal(failed.state, 'FAILURE');
    assert.deepEqual(failed.error, { type: 'PermanentError', message: 'header broke', taskId: failing.tasks[1]!.id });
    assert.equal(await ctx.store.get(failing.tasks[2]!.id), undefined, 'the body never ran');
  });

  it('refuses bad workflows with 400 naming the step (413 over the maximum), and publishes nothing', async () => {
    const queue = ctx.queue('refused');
    const { url } = await ctx.startGateway({ config: { maxBatch: 5 } });
    const ok = { name: 'demo.add', args: [1, 2], options: { queue } };
    const cases: [unknown, number, RegExp][] = [
      [{ chain: [ok, { name: 'demo.add', args: [3], options: { queue } }, { name: 'no.such', options: { queue } }] }, 400, /^chain\[2\]: Unknown task "no\.such"/],
      [{ chain: [{ name: 'demo.add', args: ['x'], options: { queue } }, ok] }, 400, /^chain\[0\]: .*INVALID_ARGUMENTS/],
      [{ group: [ok, { name: 'demo.add', args: [1], options: { queue } }] }, 400, /^group\[1\]: .*INVALID_ARGUMENTS/],
      [{ chord: { header: [ok, { name: 'demo.add', args: [1, 'y'], options: { queue } }], body: { name: 'demo.sum', options: { queue } } } }, 400, /^chord\.header\[1\]: /],
      [{ chord: { header: [ok], body: { name: 'nope', options: { queue } } } }, 400, /^chord\.body: Unknown task/],
      [{ chain: [ok, { name: 'demo.add', args: [3], options: { queue, countdown: 5 } }] }, 400, /^chain\[1\]: countdown apply only/],
      [{ group: [] }, 400, /group must list at least one step/],
      [{ chain: [] }, 400, /chain must list at least one step/],
      [{ tasks: [ok] }, 400, /The body must be/],
      [{ group: [ok, { name: 'demo.add', args: [1, 2], options: { queue: 'not.allowed.here' } }] }, 400, /^group\[1\]: /],
      [{ chord: { header: Array.from({ length: 6 }, () => ok), body: { name: 'demo.sum', options: { queue } } } }, 413, /chord\.header lists 6 steps; at most 5/],
    ];
    for (const [body, status, message] of cases) {
      const res = await http<ErrorBody>(`${url}/api/v1/workflows`, { json: body });
      assert.equal(res.status, status, JSON.stringify(body));
      assert.match(res.body.error.message, message);
    }
    // A later chain step's args are partial (the previous result comes first): not checked here.
    const partial = await http<Started>(`${url}/api/v1/workflows`, { json: { chain: [ok, { name: 'demo.add', args: [3], options: { queue } }] } });
    assert.equal(partial.status, 202);
    assert.equal((await ctx.queueDepth(queue)).messages, 1, 'only the accepted chain’s first task was published');
    const { rows } = await ctx.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM workflows');
    assert.equal(rows[0]!.n, 1, 'only the accepted workflow was recorded');
    const missing = await http<ErrorBody>(`${url}/api/v1/workflows/00000000-0000-4000-8000-000000000000`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'WORKFLOW_NOT_FOUND');
  });
});
