/**
 * Property-based fuzzing of the contract (fast-check, seeded): random JSON — all of Unicode
 * with U+0000 and lone surrogates, deep nesting, huge numbers, long strings, `__proto__` keys —
 * (1) through HTTP submit of demo.echo, (2) through the Node client's `submit` (arguments and
 * options of any shape), (3) as raw Celery protocol v2 messages on a worker's queue, with
 * garbage bodies and headers among them. The property: every input gets a coded
 * 4xx, or a task that reaches a final state readable by its owner; and the worker keeps
 * serving (a canary task completes). FUZZ_SEED replays a run; the seed is printed on failure.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import fc from 'fast-check';
import { CelerityError } from '../../shared/src/core/errors.js';
import { declareTaskQueue } from '../../shared/src/broker/apply-topology.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { type TaskRecord } from '../../shared/src/core/task.js';
import { TaskFailedError, TaskTimeoutError } from '../../shared/src/client/errors.js';
import { createClient, type Client } from '../../shared/src/client/client.js';
import { demoApp } from '../helpers/demo.js';
import type { Worker } from '../../worker/src/worker.js';
import { TestContext, TEST_AMQP_URL, TEST_DATABASE_URL, http, waitFor, type GatewayHandle, type Task } from '../helpers/harness.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const FINAL = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

/** One UTF-16 "character" from anywhere: any code point, a lone surrogate, or U+0000. */
const anyChar = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constant('\u0000') },
);
const anyString = fc.oneof(
  { weight: 10, arbitrary: fc.string({ unit: anyChar, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 100_000 }).map((n) => 'x'.repeat(n)) },
);
const anyKey = fc.oneof({ weight: 5, arbitrary: anyString }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', '') });
const anyNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 5e-324, -0),
);

/** Random JSON; objects are built with defineProperty so that `__proto__` is an own key, as JSON.parse makes it. */
const anyJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    anyNumber,
    anyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(anyKey, tie('value')), { maxLength: 4 }).map((entries) => {
      const obj: Record<string, unknown> = {};
      for (const [k, v] of entries) Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
      return obj;
    }),
  ),
})).value;

/** Nested arrays around a leaf: around and past the depth limit (1000). */
const deep = fc.tuple(fc.integer({ min: 900, max: 3_000 }), anyJson).map(([depth, leaf]) => {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
});

const submitBody = fc.oneof(
  { weight: 8, arbitrary: fc.record({ args: fc.array(fc.oneof({ weight: 20, arbitrary: anyJson }, { weight: 1, arbitrary: deep }), { maxLength: 4 }), kwargs: fc.dictionary(anyKey, anyJson, { maxKeys: 3 }) }).map((b) => JSON.stringify(b)) },
  // Bodies JSON.stringify cannot write: huge number literals, raw escapes, not an object at all.
  { weight: 2, arbitrary: fc.constantFrom('{"args":[1e400]}', '{"args":["\\ud800\\u0000"]}', '{"kwargs":{"\\u0000":1}}', '[1,2]', '"text"', 'null', '{"args":{}}', '{"__proto__":{"args":[1]}}', '{"args":[1],"extra":true}', '{') },
  { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? 'null') },
);

async function finalTask(url: string, id: string): Promise<Task> {
  return waitFor(`task ${id} to reach a final state`, async () => {
    const { status, body } = await http<Task>(`${url}/api/v1/tasks/${id}`);
    return status === 200 && FINAL.has(body.state) ? body : undefined;
  }, { timeoutMs: 30_000 });
}

async function canary(url: string, queue: string): Promise<void> {
  const res = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=30`, { json: { args: [20, 22], options: { queue } } });
  assert.equal(res.body.result, 42, `canary: ${JSON.stringify(res.body)}`);
}

describe(`fuzz (seed ${SEED}; FUZZ_SEED replays)`, () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  let worker: Worker;
  let queue: string;
  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('fuzz');
    gw = await ctx.startGateway({ maxBodyBytes: 4 * 1024 * 1024 });
    worker = await ctx.startWorker({ queues: [queue], concurrency: 16 });
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('HTTP submit: a coded 4xx, or a task that reaches a final state its owner reads', async (t) => {
    const seen = new Map<string, number>();
    const note = (what: string): void => void seen.set(what, (seen.get(what) ?? 0) + 1);
    await fc.assert(
      fc.asyncProperty(submitBody, async (body) => {
        const res = await fetch(`${gw.url}/api/v1/tasks/demo.echo?wait=20`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: patchQueue(body, queue) });
        const text = await res.text();
        if (res.status >= 400) {
          assert.ok(res.status < 500, `a ${res.status} for ${body.slice(0, 200)}: ${text.slice(0, 300)}`);
          const error = (JSON.parse(text) as { error?: { code?: unknown } }).error;
          assert.match(String(error?.code), /^[A-Z_]+$/, `a coded error: ${text.slice(0, 300)}`);
          note(`${res.status} ${String(error?.code)}`);
          return;
        }
        const task = JSON.parse(text) as Task;
        const done = res.status === 200 ? task : await finalTask(gw.url, task.id);
        assert.ok(FINAL.has(done.state), `final state for ${body.slice(0, 200)}: ${done.state}`);
        note(`${done.state}${done.error ? ` ${done.error.type}` : ''}`);
      }),
      { seed: SEED, numRuns: 150, endOnFailure: true },
    );
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(seen))}`);
    await canary(gw.url, queue);
  });

  it('Node client submit: a coded error before publishing, or a task whose result() settles and whose owner reads it', async (t) => {
    const seen = new Map<string, number>();
    const note = (what: string): void => void seen.set(what, (seen.get(what) ?? 0) + 1);
    const client: Client = await createClient({
      amqpUrl: TEST_AMQP_URL,
      databaseUrl: TEST_DATABASE_URL,
      databaseSchema: ctx.schema,
      logger: ctx.logger,
      env: {},
      tasks: (await demoApp()).tasks,
    });
    // Options of any shape: the right keys with wrong or extreme values, and unknown keys.
    const anyOption = fc.oneof(anyNumber, anyString, fc.boolean(), fc.constant(null), fc.constantFrom(-1, 0, 1e12, '2999-01-01T00:00:00Z', 'soon'));
    const options = fc.oneof(
      { weight: 3, arbitrary: fc.constant({}) },
      { weight: 2, arbitrary: fc.dictionary(fc.constantFrom('countdown', 'expires', 'priority', 'maxRetries', 'timeLimit', 'softTimeLimit', 'eta', 'bogus'), anyOption, { maxKeys: 2 }) },
    );
    const input = fc.record({
      name: fc.oneof({ weight: 6, arbitrary: fc.constant('demo.echo') }, { weight: 1, arbitrary: fc.constantFrom('demo.add', 'no.such.task', '', '__proto__') }),
      args: fc.oneof({ weight: 8, arbitrary: fc.array(fc.oneof({ weight: 20, arbitrary: anyJson }, { weight: 1, arbitrary: deep }), { maxLength: 4 }) }, { weight: 1, arbitrary: anyJson }),
      kwargs: fc.oneof({ weight: 8, arbitrary: fc.dictionary(anyKey, anyJson, { maxKeys: 3 }) }, { weight: 1, arbitrary: anyJson }),
      options,
    });
    try {
      await fc.assert(
        fc.asyncProperty(input, async ({ name, args, kwargs, options: opts }) => {
          let handle;
          try {
            handle = await client.submit(name, args as unknown[], kwargs as Record<string, unknown>, { ...(opts as object), queue });
          } catch (err) {
            // Refused before publishing: a coded error, never a crash or a hang.
            assert.ok(err instanceof CelerityError, `a coded error for ${name}: ${String(err)}`);
            assert.ok(err.status >= 400 && err.status < 500, `a caller's error, not ${err.code}: ${err.message.slice(0, 300)}`);
            note(`refused ${err.code}`);
            return;
          }
          // A countdown or eta accepted may hold the task back for up to 30 days: then it must be
          // kept, not lost (a row its owner reads, not yet final).
          const delayed = 'countdown' in (opts as object) || 'eta' in (opts as object);
          try {
            await handle.result({ timeoutMs: delayed ? 5_000 : 20_000 });
            note('SUCCESS');
          } catch (err) {
            if (delayed && err instanceof TaskTimeoutError) {
              const waiting = await waitFor(`the delayed task ${handle.id} to be recorded`, () => handle.info(), { timeoutMs: 10_000 });
              assert.ok(!FINAL.has(waiting.state), `a delayed task still waiting: ${waiting.state}`);
              note('delayed');
              return;
            }
            assert.ok(err instanceof TaskFailedError, `a task outcome, not ${String(err).slice(0, 300)}`);
            note(`${err.state} ${err.type}`);
          }
          const info = await handle.info();
          assert.ok(info && FINAL.has(info.state), `the store has the final state of ${handle.id}: ${info?.state}`);
        }),
        { seed: SEED + 2, numRuns: 120, endOnFailure: true },
      );
    } finally {
      await client.close();
    }
    t.diagnostic(`client outcomes: ${JSON.stringify(Object.fromEntries(seen))}`);
    await canary(gw.url, queue);
  });

  it('raw Celery messages and garbage on the queue: every task message ends in a final state, and the worker keeps serving', async (t) => {
    const task = fc.record({
      kind: fc.constant('task' as const),
      name: fc.oneof({ weight: 5, arbitrary: fc.constant('demo.echo') }, { weight: 1, arbitrary: fc.constantFrom('demo.add', 'demo.fail', 'no.such.task') }),
      args: fc.array(fc.oneof({ weight: 20, arbitrary: anyJson }, { weight: 1, arbitrary: deep }), { maxLength: 3 }),
      kwargs: fc.dictionary(anyKey, anyJson, { maxKeys: 3 }),
      headers: fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => !['id', 'task'].includes(k)), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 3 }),
      timelimit: fc.oneof(fc.constant(null), fc.double({ min: 1, max: 1e12, noNaN: true })),
    });
    const garbage = fc.record({
      kind: fc.constant('garbage' as const),
      body: fc.oneof(fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)), anyJson.map((v) => Buffer.from(JSON.stringify(v) ?? 'x'))),
      headers: fc.dictionary(fc.constantFrom('id', 'task', 'retries', 'eta', 'expires', 'timelimit', 'x'), fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 })), { maxKeys: 4 }),
      contentType: fc.constantFrom('application/json', 'application/x-python-serialize', undefined),
    });
    const cases = fc.sample(fc.oneof({ weight: 4, arbitrary: task }, { weight: 1, arbitrary: garbage }), { seed: SEED + 1, numRuns: 200 });
    const connection = await amqp.connect(TEST_AMQP_URL);
    const ids: string[] = [];
    try {
      const channel = await connection.createConfirmChannel();
      await declareTaskQueue(channel, queue);
      for (const c of cases) {
        if (c.kind === 'task') {
          const id = randomUUID();
          ids.push(id);
          const message = newTaskMessage({ id, name: c.name, args: c.args, kwargs: c.kwargs });
          message.timelimit = [c.timelimit, null];
          const encoded = encodeTaskMessage(message);
          channel.publish('', queue, encoded.content, { ...encoded.options, headers: { ...c.headers, ...encoded.options.headers } });
        } else {
          channel.publish('', queue, c.body, { headers: c.headers, ...(c.contentType ? { contentType: c.contentType } : {}) });
        }
      }
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
    try {
      const pending = new Set(ids);
      await waitFor(`${pending.size} raw tasks to reach a final state`, async () => {
        for (const id of [...pending]) {
          const record: TaskRecord | undefined = await ctx.store.get(id);
          if (record && FINAL.has(record.state)) pending.delete(id);
        }
        return pending.size === 0;
      }, { timeoutMs: 40_000, everyMs: 250 });
    } catch (err) {
      throw new Error(`fuzz seed ${SEED + 1} (raw messages): ${(err as Error).message}`, { cause: err });
    }
    const { rows } = await ctx.pool.query<{ state: string; error_type: string | null; n: number }>(
      'SELECT state, error_type, count(*)::int AS n FROM tasks WHERE id = ANY($1) GROUP BY 1, 2 ORDER BY 3 DESC',
      [ids],
    );
    t.diagnostic(`raw outcomes (${ids.length} tasks, ${cases.length - ids.length} garbage): ${JSON.stringify(rows)}`);
    assert.equal(worker.state, 'RUNNING');
    await canary(gw.url, queue);
  });
});

/** Routes a fuzzed submit body to the test's queue when it is an object with no options of its own. */
function patchQueue(body: string, queue: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && !Object.hasOwn(parsed, 'options')) {
      return `${body.slice(0, body.lastIndexOf('}'))}${Object.keys(parsed).length > 0 ? ',' : ''}"options":{"queue":${JSON.stringify(queue)}}}`;
    }
  } catch {
    // not JSON: sent as it is (a 400)
  }
  return body;
}
