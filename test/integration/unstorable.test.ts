/**
 * Values PostgreSQL's jsonb refuses, and results JSON cannot carry: a coded 400 at the
 * gateway; from a foreign client or a task's own result, a FAILURE with a clear type, acked,
 * and the worker goes on serving. The store isolates a refused row from its batch.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CelerityError } from '../../shared/src/core/errors.js';
import { defineTask, type TaskDefinition } from '../../shared/src/app/define-task.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { type TaskState } from '../../shared/src/core/task.js';
import { demoApp } from '../helpers/demo.js';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';

/** demo.echo answers with a value the store cannot take, picked by its first argument. */
function badResult(kind: unknown): unknown {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  switch (kind) {
    case 'nul':
      return { text: 'a\u0000b' };
    case 'surrogate':
      return ['\ud800'];
    case 'bigint':
      return { n: 10n };
    case 'cycle':
      return cycle;
    case 'function':
      return { f: () => 1 };
    case 'throw-nul':
      throw new Error('bad \u0000 message \ud800');
    default:
      return kind;
  }
}

/** The demo app with demo.echo answering badResult(args[0]). */
async function badResultTasks(): Promise<TaskDefinition[]> {
  const echo = defineTask({ name: 'demo.echo', queue: 'demo', run: (args: unknown[]) => Promise.resolve().then(() => badResult(args[0])) });
  return [...(await demoApp()).tasks.filter((t) => t.name !== 'demo.echo'), echo];
}

async function finished(ctx: TestContext, id: string): Promise<NonNullable<Awaited<ReturnType<TestContext['store']['get']>>>> {
  return waitFor(`task ${id} to finish`, async () => {
    const t = await ctx.store.get(id);
    return t && ['SUCCESS', 'FAILURE', 'REVOKED'].includes(t.state) ? t : undefined;
  });
}

async function canary(url: string, queue: string): Promise<void> {
  const res = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=30`, { json: { args: [40, 2], options: { queue } } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.result, 42);
}

describe('values the store refuses', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('the gateway answers 400 INVALID_ARGUMENTS naming the field, for single and batch submits', async () => {
    const { url } = await ctx.startGateway();
    const queue = ctx.queue('gw');
    for (const [args, kwargs, path] of [
      [['a\u0000b'], {}, 'args[0]'],
      [['ok', '\ud800'], {}, 'args[1]'],
      [[], { 'k\u0000': 1 }, 'kwargs["k\\u0000"]'],
    ] as const) {
      const res = await http<{ error: { code: string; message: string } }>(`${url}/api/v1/tasks/demo.echo`, { json: { args, kwargs, options: { queue } } });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'INVALID_ARGUMENTS');
      assert.ok(res.body.error.message.startsWith(path), res.body.error.message);
    }
    const batch = await http<{ error: { code: string; message: string } }>(`${url}/api/v1/tasks`, {
      json: { tasks: [{ name: 'demo.echo', args: [1] }, { name: 'demo.echo', args: ['\udfff'] }] },
    });
    assert.equal(batch.status, 400);
    assert.match(batch.body.error.message, /^tasks\[1\]: args\[0\] .*INVALID_ARGUMENTS/);
  });

  it('a raw Celery message with U+0000 or a lone surrogate ends FAILURE, is dead-lettered, and the worker keeps serving', async () => {
    const { url } = await ctx.startGateway();
    const queue = ctx.queue('raw');
    await ctx.startWorker({ queues: [queue] });
    const ids: string[] = [];
    for (const args of [['a\u0000b'], [{ x: '\ud800' }]]) {
      const id = randomUUID();
      ids.push(id);
      const message = encodeTaskMessage(newTaskMessage({ id, name: 'demo.echo', args, kwargs: {} }));
      await ctx.publishRaw(queue, message.content, message.options);
    }
    for (const id of ids) {
      const task = await finished(ctx, id);
      assert.equal(task.state, 'FAILURE');
      assert.equal(task.error?.type, 'InvalidArgumentsError');
      assert.match(task.error?.message ?? '', /args\[0\]/);
    }
    await waitFor('both dead letters', async () => (await ctx.deadLetters(queue)).filter((l) => l.reason === 'invalid-arguments').length === 2);
    await canary(url, queue);
  });

  it('a result jsonb refuses or JSON cannot carry ends FAILURE with a clear type', async () => {
    const { url } = await ctx.startGateway();
    const queue = ctx.queue('result');
    await ctx.startWorker({ queues: [queue], tasks: await badResultTasks() });
    const expected: Record<string, string> = {
      nul: 'UnstorableResultError',
      surrogate: 'UnstorableResultError',
      bigint: 'ResultNotSerializableError',
      cycle: 'ResultNotSerializableError',
      function: 'ResultNotSerializableError',
    };
    for (const [kind, type] of Object.entries(expected)) {
      const res = await http<Task>(`${url}/api/v1/tasks/demo.echo?wait=30`, { json: { args: [kind], options: { queue } } });
      assert.equal(res.status, 200, `${kind}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.state, 'FAILURE', kind);
      assert.equal(res.body.error?.type, type, kind);
      assert.match(res.body.error?.message ?? '', /result/, kind);
    }
    // An error message with U+0000 and a lone surrogate is stored, with them replaced.
    const thrown = await http<Task>(`${url}/api/v1/tasks/demo.echo?wait=30`, { json: { args: ['throw-nul'], options: { queue } } });
    assert.equal(thrown.body.state, 'FAILURE');
    assert.equal((await ctx.finalRow(thrown.body.id)).error?.message, 'bad \ufffd message \ufffd');
    await canary(url, queue);
  });

  it('a 200 kB error message is stored truncated and the worker keeps serving', async () => {
    const { url } = await ctx.startGateway();
    const queue = ctx.queue('bigerror');
    await ctx.startWorker({ queues: [queue] });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=60`, { json: { args: [`postgres://u:${'p'.repeat(200_000)}`], options: { queue } } });
    assert.equal(res.body.state, 'FAILURE');
    const message = res.body.error?.message ?? '';
    assert.ok(message.length <= 8192, `stored ${message.length} characters`);
    assert.match(message, /more characters cut\]$/);
    await canary(url, queue);
  });

  it('the store refuses an unstorable write at once and isolates a refused row from its batch', async () => {
    const base = { name: 'demo.echo', queue: 'q', args: [], kwargs: {} };
    await assert.rejects(
      ctx.store.record({ ...base, id: randomUUID(), state: 'PENDING', args: ['\u0000'] }),
      (err: unknown) => err instanceof CelerityError && err.code === 'UNSTORABLE_VALUE',
    );
    const good = [randomUUID(), randomUUID(), randomUUID()];
    const bad = randomUUID();
    // Same tick: one batch. A state outside the CHECK constraint makes PostgreSQL refuse it (23514).
    const outcomes = await Promise.allSettled([
      ...good.map((id) => ctx.store.record({ ...base, id, state: 'PENDING' })),
      ctx.store.record({ ...base, id: bad, state: 'BOGUS' as TaskState }),
    ]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    const refused = outcomes[3] as PromiseRejectedResult;
    assert.ok(refused.reason instanceof CelerityError && refused.reason.code === 'STORE_WRITE_REFUSED', String(refused.reason));
    for (const id of good) assert.equal((await ctx.store.get(id))?.state, 'PENDING');
    assert.equal(await ctx.store.get(bad), undefined);
  });
});
