/**
 * Deduplication on submit against the real broker and database, with a worker running: bursts
 * of concurrent submits with one dedupe key, through two gateways (HTTP) and the Node client at
 * once, then the runs the worker made and the tasks the store holds. singleton: one task while
 * it is unfinished, a new one after; throttle: one per window; debounce: one run per burst, with
 * the last submit's input, the others REVOKED as replaced. Keys are per task name and per API
 * key; a bad dedupe option is a 400.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { defineTask } from '../../shared/src/app/define-task.js';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { createClient, type Client } from '../../shared/src/client/client.js';
import { CelerityError } from '../../shared/src/core/errors.js';
import { CelerityHttpError, createHttpClient } from '../../shared/src/http/index.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitFor, type GatewayHandle, type Task } from '../helpers/harness.js';
import { metricValue, scrape } from '../helpers/prom.js';

/** What the worker ran: one entry per run of a test task. */
interface Run {
  id: string;
  name: string;
  n: number;
}

type Dedupe = { key: string; mode: 'singleton' | 'throttle' | 'debounce'; windowS?: number };

/** How one submit of a burst was answered. */
interface Answer {
  n: number;
  id: string;
  deduplicated: boolean;
  status?: number;
}

describe('deduplication on submit', () => {
  let ctx: TestContext;
  let queue: string;
  let gateways: GatewayHandle[];
  let client: Client;
  const runs: Run[] = [];
  let releaseHeld: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (releaseHeld = resolve));
  let tasks: ReturnType<typeof defineTasks>;

  const defineTasks = (q: string) => ({
    // Stays STARTED until the test releases it: a singleton's task is unfinished for the whole burst.
    hold: defineTask({
      name: 'dedupe.hold',
      queue: q,
      input: z.object({ n: z.number() }),
      run: async ({ n }, ctx) => {
        runs.push({ id: ctx.id, name: 'dedupe.hold', n });
        await held;
        return n;
      },
    }),
    note: defineTask({
      name: 'dedupe.note',
      queue: q,
      input: z.object({ n: z.number() }),
      run: ({ n }, ctx) => {
        runs.push({ id: ctx.id, name: 'dedupe.note', n });
        return n;
      },
    }),
  });

  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('dedupe');
    tasks = defineTasks(queue);
    const app = [tasks.hold, tasks.note];
    await ctx.startWorker({ queues: [queue], tasks: app, concurrency: 4 });
    gateways = [await ctx.startGateway({ tasks: app }), await ctx.startGateway({ tasks: app })];
    client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, logger: ctx.logger, env: {}, tasks: app });
    ctx.defer(() => client.close());
  });
  after(async () => {
    releaseHeld();
    await ctx.cleanup();
  });

  const newKey = (): string => `key-${randomBytes(4).toString('hex')}`;

  const viaHttp = async (gateway: GatewayHandle, name: string, n: number, dedupe: Dedupe): Promise<Answer> => {
    const { status, headers, body } = await http<Task>(`${gateway.url}/api/v1/tasks/${name}`, { json: { kwargs: { n }, options: { dedupe } } });
    assert.ok(status === 200 || status === 202, `submit answered ${status}: ${JSON.stringify(body)}`);
    const deduplicated = headers.get('deduplicated') === 'true';
    assert.equal(status, deduplicated ? 200 : 202, 'a deduplicated submit is a 200, a new task a 202');
    return { n, id: body.id, deduplicated, status };
  };

  const viaClient = async (name: 'dedupe.hold' | 'dedupe.note', n: number, dedupe: Dedupe): Promise<Answer> => {
    const handle = await client.submit(name === 'dedupe.hold' ? tasks.hold : tasks.note, { n }, { dedupe });
    return { n, id: handle.id, deduplicated: handle.deduplicated };
  };

  /** 30 submits at once, inputs first..first+29: a third through each gateway, a third through the client. */
  const burst = (name: 'dedupe.hold' | 'dedupe.note', first: number, dedupe: Dedupe): Promise<Answer[]> =>
    Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const n = first + i;
        return i % 3 === 2 ? viaClient(name, n, dedupe) : viaHttp(gateways[i % 3]!, name, n, dedupe);
      }),
    );

  const runsOf = (ids: readonly string[]): Run[] => runs.filter((r) => ids.includes(r.id));

  it('singleton: a burst gets one task, whose input runs; while it runs, submits still get it; once final, a new one', async () => {
    const dedupe: Dedupe = { key: newKey(), mode: 'singleton' };
    const answers = await burst('dedupe.hold', 100, dedupe);
    const ids = new Set(answers.map((a) => a.id));
    assert.equal(ids.size, 1, 'every submit of the burst got the same task');
    const fresh = answers.filter((a) => !a.deduplicated);
    assert.equal(fresh.length, 1, 'exactly one submit made the task');
    const [id] = ids;
    const started = await waitFor('the singleton to start', () => runsOf([id!]).length === 1 && runsOf([id!]));
    assert.equal(started[0]!.n, fresh[0]!.n, "the task runs the input of the submit that made it");

    const whileRunning = await viaHttp(gateways[1]!, 'dedupe.hold', 200, dedupe);
    assert.deepEqual([whileRunning.id, whileRunning.deduplicated], [id, true]);

    // A ?wait= submit deduplicated against it waits for that task's end, and answers with it.
    const waited = http<Task>(`${gateways[0]!.url}/api/v1/tasks/dedupe.hold?wait=30`, { json: { kwargs: { n: 250 }, options: { dedupe } } });
    await waitFor('the ?wait= submit to wait on the task', () => gateways[0]!.gateway.core.waiters.size > 0);
    releaseHeld();
    const answered = await waited;
    assert.deepEqual([answered.status, answered.headers.get('deduplicated'), answered.body.id, answered.body.state, answered.body.result], [200, 'true', id, 'SUCCESS', fresh[0]!.n]);
    // Every HTTP submit answered with the earlier task is counted, by the gateway that answered it.
    const counted = await Promise.all(gateways.map(async (g) => metricValue(await scrape(`${g.url}/metrics`), 'celerity_tasks_deduplicated_total', { task: 'dedupe.hold', mode: 'singleton' }) ?? 0));
    assert.equal(counted[0]! + counted[1]!, answers.filter((a) => a.status === 200).length + 2);
    const done = await ctx.finalRow(id!);
    assert.equal(done.state, 'SUCCESS');
    assert.equal(done.result, fresh[0]!.n);
    const after = await viaClient('dedupe.hold', 300, dedupe);
    assert.equal(after.deduplicated, false);
    assert.notEqual(after.id, id, 'once final, a submit makes a new task');
    assert.equal((await ctx.finalRow(after.id)).result, 300);
    assert.deepEqual(runs.filter((r) => r.name === 'dedupe.hold').map((r) => r.n), [fresh[0]!.n, 300], 'two runs in all');
  });

  it('throttle: a burst gets one task; within the window, even once it finished, the same; after the window, a new one', async () => {
    const dedupe: Dedupe = { key: newKey(), mode: 'throttle', windowS: 3600 };
    const answers = await burst('dedupe.note', 1_000, dedupe);
    const ids = new Set(answers.map((a) => a.id));
    assert.equal(ids.size, 1);
    const fresh = answers.filter((a) => !a.deduplicated);
    assert.equal(fresh.length, 1);
    const [id] = ids;
    assert.equal((await ctx.finalRow(id!)).result, fresh[0]!.n);
    const within = await viaHttp(gateways[0]!, 'dedupe.note', 1_100, dedupe);
    assert.deepEqual([within.id, within.deduplicated], [id, true], 'finishing does not end the window');
    // The window passes: the claim is made an hour and a second older.
    await ctx.pool.query(`UPDATE idempotency_keys SET created_at = created_at - interval '3601 seconds' WHERE task_id = $1`, [id]);
    const next = await viaHttp(gateways[1]!, 'dedupe.note', 1_200, dedupe);
    assert.equal(next.deduplicated, false);
    assert.notEqual(next.id, id);
    assert.equal((await ctx.finalRow(next.id)).result, 1_200);
    assert.deepEqual(runsOf([id!, next.id]).map((r) => r.n).sort((a, b) => a - b), [fresh[0]!.n, 1_200], 'two runs in all');
  });

  it('debounce: a burst runs once, with the input of its last submit; every other submit of it ends REVOKED as replaced', async () => {
    const dedupe: Dedupe = { key: newKey(), mode: 'debounce', windowS: 5 };
    const answers = await burst('dedupe.note', 2_000, dedupe);
    assert.ok(answers.every((a) => !a.deduplicated), 'every debounced submit makes a task');
    assert.equal(new Set(answers.map((a) => a.id)).size, 30);
    const finals = await Promise.all(answers.map((a) => ctx.finalRow(a.id)));
    const succeeded = finals.filter((t) => t.state === 'SUCCESS');
    assert.equal(succeeded.length, 1, 'exactly one run for the burst');
    const revoked = finals.filter((t) => t.state === 'REVOKED');
    assert.equal(revoked.length, 29);
    const ids = new Set(answers.map((a) => a.id));
    for (const task of revoked) {
      const replacer = /^debounced: replaced by (.+)$/.exec(task.error?.message ?? '')?.[1];
      assert.ok(replacer !== undefined && ids.has(replacer), `revoked with the id of the submit that replaced it: ${task.error?.message}`);
    }
    // The last submit is the one that holds the key now, and its input is the one that ran.
    const { rows } = await ctx.pool.query<{ task_id: string }>('SELECT task_id FROM idempotency_keys WHERE task_id = ANY($1::text[])', [[...ids]]);
    assert.deepEqual(rows.map((r) => r.task_id), [succeeded[0]!.id]);
    const ran = runsOf([...ids]);
    assert.equal(ran.length, 1);
    assert.equal(ran[0]!.n, answers.find((a) => a.id === succeeded[0]!.id)!.n);
  });

  it('debounce: submits one after another run only the last, after its window; each earlier one names its replacement', async () => {
    const dedupe: Dedupe = { key: newKey(), mode: 'debounce', windowS: 3 };
    const a = await viaHttp(gateways[0]!, 'dedupe.note', 3_001, dedupe);
    const b = await viaClient('dedupe.note', 3_002, dedupe);
    const c = await viaHttp(gateways[1]!, 'dedupe.note', 3_003, dedupe);
    const last = await ctx.finalRow(c.id);
    assert.equal(last.state, 'SUCCESS');
    assert.equal(last.result, 3_003);
    assert.ok(last.startedAt!.getTime() >= last.createdAt.getTime() + 3_000, 'the run waited out the window');
    assert.equal((await ctx.finalRow(a.id)).error?.message, `debounced: replaced by ${b.id}`);
    assert.equal((await ctx.finalRow(b.id)).error?.message, `debounced: replaced by ${c.id}`);
    assert.deepEqual(runsOf([a.id, b.id, c.id]).map((r) => r.n), [3_003]);
  });

  it('celerity/http: submit takes options.dedupe and says when it was deduplicated; a bad one is INVALID_DEDUPE', async () => {
    const api = createHttpClient({ baseUrl: gateways[1]!.url });
    const dedupe: Dedupe = { key: newKey(), mode: 'throttle', windowS: 3600 };
    const first = await api.submit('dedupe.note', { n: 6_001 }, { dedupe });
    const again = await api.submit('dedupe.note', { n: 6_002 }, { dedupe });
    assert.equal(first.deduplicated, undefined);
    assert.equal(again.deduplicated, true);
    assert.equal(again.id, first.id);
    await assert.rejects(api.submit('dedupe.note', { n: 1 }, { dedupe: { key: 'k', mode: 'debounce' } }), (err: unknown) => err instanceof CelerityHttpError && err.code === 'INVALID_DEDUPE' && err.status === 400);
  });

  it('keys are per task name: one key on two tasks makes two tasks', async () => {
    const dedupe: Dedupe = { key: newKey(), mode: 'throttle', windowS: 3600 };
    const note = await viaHttp(gateways[0]!, 'dedupe.note', 4_001, dedupe);
    const hold = await viaHttp(gateways[0]!, 'dedupe.hold', 4_002, dedupe);
    assert.equal(note.deduplicated || hold.deduplicated, false);
    assert.notEqual(note.id, hold.id);
  });

  it('keys are per API key when keys are on: another key with the same dedupe key gets a task of its own', async () => {
    const gw = await ctx.startGateway({ tasks: [tasks.hold, tasks.note], config: { authMode: 'keys' } });
    const keys = new ApiKeyStore(ctx.pool);
    const alice = (await keys.create({ name: 'alice', scopes: 'dedupe.*,tasks:read' })).secret;
    const bob = (await keys.create({ name: 'bob', scopes: 'dedupe.*,tasks:read' })).secret;
    const dedupe: Dedupe = { key: newKey(), mode: 'throttle', windowS: 3600 };
    const submit = (secret: string, n: number) =>
      http<Task>(`${gw.url}/api/v1/tasks/dedupe.note`, { json: { kwargs: { n }, options: { dedupe } }, headers: { authorization: `Bearer ${secret}` } });
    const first = await submit(alice, 5_001);
    const again = await submit(alice, 5_002);
    const other = await submit(bob, 5_003);
    assert.deepEqual([first.status, again.status, other.status], [202, 200, 202]);
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.headers.get('deduplicated'), 'true');
    assert.notEqual(other.body.id, first.body.id);
  });

  it('a bad dedupe option is a 400 INVALID_DEDUPE over HTTP and from the client; batches, workflows, submitMany and an Idempotency-Key with it are refused', async () => {
    const url = `${gateways[0]!.url}/api/v1/tasks/dedupe.note`;
    const bad: [unknown, RegExp][] = [
      [{ key: 'k'.repeat(201), mode: 'singleton' }, /dedupe\.key/],
      [{ key: '', mode: 'singleton' }, /dedupe\.key/],
      [{ key: 'k', mode: 'sometimes' }, /dedupe\.mode/],
      [{ key: 'k', mode: 'throttle' }, /windowS is required/],
      [{ key: 'k', mode: 'debounce', windowS: -1 }, /dedupe\.windowS/],
      [{ key: 'k', mode: 'throttle', windowS: 86_401 }, /dedupe\.windowS/],
    ];
    for (const [dedupe, message] of bad) {
      const { status, body } = await http<{ error: { code: string; message: string } }>(url, { json: { kwargs: { n: 1 }, options: { dedupe } } });
      assert.equal(status, 400, JSON.stringify(dedupe));
      assert.equal(body.error.code, 'INVALID_DEDUPE');
      assert.match(body.error.message, message);
    }
    await assert.rejects(
      client.submit(tasks.note, { n: 1 }, { dedupe: { key: 'k'.repeat(201), mode: 'singleton' } }),
      (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_DEDUPE',
    );
    const both = await http<{ error: { code: string } }>(url, { json: { kwargs: { n: 1 }, options: { dedupe: { key: 'k', mode: 'singleton' } } }, headers: { 'idempotency-key': 'i1' } });
    assert.deepEqual([both.status, both.body.error.code], [400, 'INVALID_DEDUPE']);
    const batch = await http<{ error: { code: string; message: string } }>(`${gateways[0]!.url}/api/v1/tasks`, {
      json: { tasks: [{ name: 'dedupe.note', kwargs: { n: 1 }, options: { dedupe: { key: 'k', mode: 'singleton' } } }] },
    });
    assert.equal(batch.status, 400);
    assert.match(batch.body.error.message, /options\.dedupe applies to single submits only/);
    const workflow = await http<{ error: { code: string; message: string } }>(`${gateways[0]!.url}/api/v1/workflows`, {
      json: { group: [{ name: 'dedupe.note', kwargs: { n: 1 }, options: { dedupe: { key: 'k', mode: 'singleton' } } }] },
    });
    assert.equal(workflow.status, 400);
    assert.match(workflow.body.error.message, /options\.dedupe applies to single submits only/);
    await assert.rejects(
      client.submitMany([{ task: tasks.note, input: { n: 1 }, options: { dedupe: { key: 'k', mode: 'singleton' } } }]),
      (err: unknown) => err instanceof CelerityError && err.code === 'OPTION_NOT_SUPPORTED',
    );
  });

  it('the OpenAPI document has options.dedupe, its 200 with the Deduplicated header, and INVALID_DEDUPE', async () => {
    type Doc = { components: { schemas: Record<string, { properties: Record<string, { properties: Record<string, { enum?: string[]; maxLength?: number; maximum?: number }> }> }>; responses: Record<string, { description: string }> }; paths: Record<string, { post: { responses: Record<string, { headers?: Record<string, unknown> }> } }> };
    const { body } = await http<Doc>(`${gateways[0]!.url}/api/v1/openapi.json`);
    const dedupe = body.components.schemas.SubmitOptions!.properties.dedupe!;
    assert.deepEqual(dedupe.properties.mode!.enum, ['singleton', 'throttle', 'debounce']);
    assert.equal(dedupe.properties.key!.maxLength, 200);
    assert.equal(dedupe.properties.windowS!.maximum, 86_400);
    assert.ok(body.paths['/api/v1/tasks/dedupe.note']!.post.responses['200']!.headers!.Deduplicated);
    assert.match(body.components.responses.Error400!.description, /INVALID_DEDUPE/);
  });
});
