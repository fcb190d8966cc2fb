/**
 * Result modes (`result: 'full' | 'final' | 'none'`, per task and per submit) against the real
 * broker and database: which rows each writes (a trigger on the test's own `tasks` table records
 * every state each row is written with), what `?wait=`, `GET` and the Node client answer, and
 * that the worker's metrics still count a task that leaves no row.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { createClient, type Client } from '../../shared/src/client/client.js';
import { defineTask } from '../../shared/src/app/define-task.js';
import type { TaskDefinition } from '../../shared/src/app/define-task.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitFor, type Task } from '../helpers/harness.js';
import { metricValue, scrape } from '../helpers/prom.js';

describe('result modes', () => {
  let ctx: TestContext;
  let queue: string;
  let url: string;
  let metricsUrl: string;
  let client: Client;
  let tasks: TaskDefinition[];

  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('modes');
    tasks = [
      defineTask({ name: 'modes.add', queue, args: z.tuple([z.number(), z.number()]), run: ([a, b]) => a + b }),
      defineTask({ name: 'modes.quiet', queue, result: 'none', args: z.tuple([z.number()]), run: ([n]) => n * 2 }),
      defineTask({ name: 'modes.lean', queue, result: 'final', args: z.tuple([z.number()]), run: ([n]) => n + 1 }),
    ];
    await ctx.pool.query(`
      CREATE TABLE state_writes (id text NOT NULL, state text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE FUNCTION note_state_write() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO state_writes (id, state) VALUES (NEW.id, NEW.state); RETURN NEW; END $$;
      CREATE TRIGGER note_state_write AFTER INSERT OR UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION note_state_write();`);
    ({ url } = await ctx.startGateway({ tasks }));
    const worker = await ctx.startWorker({ queues: [queue], tasks, metrics: true });
    metricsUrl = `http://127.0.0.1:${worker.metricsPort}/metrics`;
    client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, logger: ctx.logger, env: {}, tasks });
    ctx.defer(() => client.close());
  });
  after(async () => {
    await ctx.cleanup();
  });

  const statesOf = async (id: string): Promise<string[]> =>
    (await ctx.pool.query<{ state: string }>('SELECT state FROM state_writes WHERE id = $1 ORDER BY at', [id])).rows.map((r) => r.state);

  /**
   * A `full` round trip on the same queue and worker, waited until its final row is committed:
   * any write the worker issued for an earlier task is in the store by then (one batch writer).
   */
  const settleWrites = async (): Promise<void> => {
    const marker = await http<Task>(`${url}/api/v1/tasks/modes.add?wait=20`, { json: { args: [0, 0] } });
    assert.equal(marker.status, 200);
    await ctx.finalRow(marker.body.id);
  };

  it('options.result refuses an unknown mode with 400, and defineTask refuses one naming the task', async () => {
    const answer = await http<{ error: { code: string; message: string } }>(`${url}/api/v1/tasks/modes.add`, { json: { args: [1, 2], options: { result: 'some' } } });
    assert.equal(answer.status, 400);
    assert.match(answer.body.error.message, /result/);
    assert.throws(() => defineTask({ name: 'modes.bad', result: 'partial' as 'none', run: () => 1 }), /modes\.bad.*result must be full, final, none/);
  });

  it('full (the default) still writes PENDING before a 202, and the claim and the end of a waited run', async () => {
    const idle = ctx.queue('full-idle'); // no worker: the PENDING row is all there is
    const queued = await http<Task>(`${url}/api/v1/tasks/modes.add`, { json: { args: [1, 2], options: { queue: idle } } });
    assert.equal(queued.status, 202);
    assert.deepEqual(await statesOf(queued.body.id), ['PENDING'], 'written before the 202');
    const waited = await http<Task>(`${url}/api/v1/tasks/modes.add?wait=20`, { json: { args: [1, 2] } });
    assert.equal(waited.status, 200);
    assert.equal((await ctx.finalRow(waited.body.id)).result, 3);
    assert.deepEqual(await statesOf(waited.body.id), ['STARTED', 'SUCCESS']);
  });

  it('final over HTTP with ?wait=: 200 with the result, and only the final row is written', async () => {
    const answer = await http<Task>(`${url}/api/v1/tasks/modes.add?wait=20`, { json: { args: [20, 22], options: { result: 'final' } } });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.result, 42);
    const read = await http<Task>(`${url}/api/v1/tasks/${answer.body.id}`);
    assert.equal(read.status, 200, 'the reply came after the final commit: GET finds it');
    assert.equal(read.body.state, 'SUCCESS');
    assert.deepEqual(await statesOf(answer.body.id), ['SUCCESS']);
  });

  it('final without a wait: 202 and no PENDING row; the task ends with its final row only (task-level mode)', async () => {
    const answer = await http<Task>(`${url}/api/v1/tasks/modes.lean`, { json: { args: [41] } });
    assert.equal(answer.status, 202);
    const row = await ctx.finalRow(answer.body.id);
    assert.equal(row.result, 42);
    assert.deepEqual(await statesOf(answer.body.id), ['SUCCESS']);
  });

  it('none over HTTP with ?wait=: 200 from the reply, GET answers 404, no row is ever written, the worker counts it', async () => {
    const answer = await http<Task>(`${url}/api/v1/tasks/modes.add?wait=20`, { json: { args: [2, 3], options: { result: 'none' } } });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.state, 'SUCCESS');
    assert.equal(answer.body.result, 5);
    const read = await http<{ error: { code: string } }>(`${url}/api/v1/tasks/${answer.body.id}`);
    assert.equal(read.status, 404);
    assert.equal(read.body.error.code, 'TASK_NOT_FOUND');
    await settleWrites();
    assert.deepEqual(await statesOf(answer.body.id), []);
    const samples = await waitFor('the worker to count the none task', async () => {
      const s = await scrape(metricsUrl);
      return (metricValue(s, 'celerity_worker_tasks_total', { task: 'modes.add', queue, outcome: 'success' }) ?? 0) >= 1 ? s : undefined;
    });
    assert.ok(samples.length > 0);
  });

  it('none with a ?wait= that ends before the task: 202, no PENDING row, GET answers 404', async () => {
    const idle = ctx.queue('idle'); // no worker consumes it
    const answer = await http<Task>(`${url}/api/v1/tasks/modes.add?wait=0.3`, { json: { args: [1, 1], options: { queue: idle, result: 'none' } } });
    assert.equal(answer.status, 202);
    assert.equal(answer.body.state, 'PENDING');
    assert.equal((await http(`${url}/api/v1/tasks/${answer.body.id}`)).status, 404);
    assert.deepEqual(await statesOf(answer.body.id), [], 'the 202 of a none task writes no PENDING row');
  });

  it('none without a wait (task-level): 202, no PENDING row, the task still runs and is counted', async () => {
    const before = metricValue(await scrape(metricsUrl), 'celerity_worker_tasks_total', { task: 'modes.quiet', queue, outcome: 'success' }) ?? 0;
    const answer = await http<Task>(`${url}/api/v1/tasks/modes.quiet`, { json: { args: [4] } });
    assert.equal(answer.status, 202);
    assert.equal(answer.body.state, 'PENDING');
    await waitFor('the worker to run the none task', async () => {
      const after = metricValue(await scrape(metricsUrl), 'celerity_worker_tasks_total', { task: 'modes.quiet', queue, outcome: 'success' }) ?? 0;
      return after === before + 1 ? true : undefined;
    });
    await settleWrites();
    assert.deepEqual(await statesOf(answer.body.id), []);
    assert.equal((await http(`${url}/api/v1/tasks/${answer.body.id}`)).status, 404);
  });

  it('a submit overrides the task: full on a none task writes the claim and the end', async () => {
    const answer = await http<Task>(`${url}/api/v1/tasks/modes.quiet?wait=20`, { json: { args: [5], options: { result: 'full' } } });
    assert.equal(answer.status, 200);
    assert.equal((await ctx.finalRow(answer.body.id)).result, 10);
    assert.deepEqual(await statesOf(answer.body.id), ['STARTED', 'SUCCESS']);
  });

  it('the Node client: result() resolves in every mode; none leaves no row, final only the end', async () => {
    const none = await client.submit('modes.add', [1, 1], {}, { result: 'none' });
    assert.equal(await none.result({ timeoutMs: 20_000 }), 2);
    const final = await client.submit('modes.add', [2, 2], {}, { result: 'final' });
    assert.equal(await final.result({ timeoutMs: 20_000 }), 4);
    const byTask = await client.submit('modes.quiet', [7]);
    assert.equal(await byTask.result({ timeoutMs: 20_000 }), 14);
    assert.deepEqual(await statesOf(final.id), ['SUCCESS']);
    await settleWrites();
    assert.deepEqual(await statesOf(none.id), []);
    assert.deepEqual(await statesOf(byTask.id), []);
    assert.equal(await client.get(none.id).info(), undefined, 'the client reads the store, which has no row');
  });

  it('batches take options.result per item', async () => {
    const answer = await http<{ tasks: Task[] }>(`${url}/api/v1/tasks`, {
      json: { tasks: [{ name: 'modes.add', args: [1, 0], options: { result: 'none' } }, { name: 'modes.add', args: [2, 0], options: { result: 'final' } }] },
    });
    assert.equal(answer.status, 202);
    const [none, final] = answer.body.tasks;
    assert.ok(none && final);
    assert.equal((await ctx.finalRow(final.id)).result, 2);
    await settleWrites();
    assert.deepEqual(await statesOf(none.id), []);
    assert.deepEqual(await statesOf(final.id), ['SUCCESS']);
  });
});
