/** Task event streams (GET /api/v1/tasks/{id}/events) against real RabbitMQ and PostgreSQL, across two gateways. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:net';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { defineTask, loadApp } from '../../index.js';
import { MAX_PROGRESS_MESSAGE_CHARS } from '../../shared/src/core/index.js';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';
import { demoApp } from '../helpers/demo.js';
import { openSse, type SseEvent } from '../helpers/sse.js';

/** Reports 100 times in one go: the throttle lets the first through at once and keeps the last. */
const burst = defineTask({
  name: 'test.burst',
  queue: 'demo',
  run(_args, _kwargs, ctx) {
    for (let i = 1; i <= 100; i++) ctx.progress(i / 100, `report ${i}`);
    return 'done';
  },
});

/** Streams far more than a client that never reads can take: 900 chunks of 16 KiB. */
const chatty = defineTask({
  name: 'test.chatty',
  queue: 'demo',
  run(_args, _kwargs, ctx) {
    for (let i = 0; i < 900; i++) ctx.stream(String(i % 10).repeat(16_384));
    return 'said it all';
  },
});

/** Reports what it must not: the task goes on and succeeds. */
const careless = defineTask({
  name: 'test.careless',
  queue: 'demo',
  run(_args, _kwargs, ctx) {
    ctx.progress(1.5);
    ctx.progress(Number.NaN);
    ctx.progress(0.5, 'x'.repeat(MAX_PROGRESS_MESSAGE_CHARS + 100));
    (ctx.stream as (chunk: unknown) => void)(42);
    return 'still fine';
  },
});

const ROOT_ENTRY = new URL('../../index.js', import.meta.url).href;
/** A CPU task (run on a pool thread, which imports this module) that reports. */
const CPU_APP = `
import { defineTask } from ${JSON.stringify(ROOT_ENTRY)};
export const reporting = defineTask({ name: 'cpu.reporting', cpu: true, run(_args, _kwargs, ctx) {
  ctx.progress(0.5, 'half');
  ctx.stream('from a thread');
  ctx.logger.info('a line from a thread');
  ctx.progress(2);
  return 'ok';
} });
`;

interface StoredEntry {
  seq: string;
  kind: string;
  data: Record<string, unknown>;
}

describe('task event streams', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  async function entries(id: string): Promise<StoredEntry[]> {
    const { rows } = await ctx.pool.query<StoredEntry>('SELECT id::text AS seq, kind, data FROM task_events WHERE task_id = $1 ORDER BY task_events.id', [id]);
    return rows;
  }

  /** Without the timestamp each event carries: what the task reported. */
  const reported = (events: SseEvent[]): { event: string; data: unknown }[] =>
    events.filter((e) => e.event !== 'state').map((e) => {
      const { at: _at, ...data } = e.data as Record<string, unknown>;
      return { event: e.event, data };
    });

  it('a stream on one gateway shows every state, progress report, output chunk and the end of a task submitted through another, in order', async () => {
    const queue = ctx.queue('events');
    await ctx.startWorker({ queues: [queue] });
    const one = await ctx.startGateway();
    const two = await ctx.startGateway();
    const submitted = await http<Task>(`${one.url}/api/v1/tasks/demo.progress`, { json: { args: [5], kwargs: { stepMs: 150 }, options: { queue } } });
    assert.equal(submitted.status, 202);
    const id = submitted.body.id;
    const stream = await openSse(`${two.url}/api/v1/tasks/${id}/events`);
    assert.equal(stream.status, 200);
    // The stream's own headers and the security headers every response carries (security.ts merges them into its writeHead).
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(stream.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(stream.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.match(stream.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(stream.headers.get('x-powered-by'), null);
    await stream.ended;
    const events = stream.events;

    // Ids only grow, and every event has one.
    const cursors = events.map((e) => e.id?.split('-').map(Number) ?? [NaN, NaN]);
    for (let i = 1; i < cursors.length; i++) {
      const [seq, order] = cursors[i] as number[];
      const [prevSeq, prevOrder] = cursors[i - 1] as number[];
      assert.ok((seq as number) >= (prevSeq as number) && (order as number) >= (prevOrder as number) && (seq !== prevSeq || order !== prevOrder), `ids grow: ${JSON.stringify(events.map((e) => e.id))}`);
    }
    // States: first the one it had, STARTED before any report, SUCCESS last with the result.
    const states = events.filter((e) => e.event === 'state').map((e) => (e.data as Task).state);
    assert.ok(['PENDING', 'STARTED'].includes(states[0] as string), `first state: ${states.join(',')}`);
    assert.deepEqual(states.slice(-2), ['STARTED', 'SUCCESS']);
    const last = events.at(-1);
    assert.equal(last?.event, 'state');
    assert.deepEqual((last?.data as Task).result, { steps: 5 });
    const startedAt = events.findIndex((e) => e.event === 'state' && (e.data as Task).state === 'STARTED');
    assert.ok(events.findIndex((e) => e.event !== 'state') > startedAt, 'reports come after STARTED');
    // Every entry of the task's log, in the log's order, and nothing else.
    const stored = await entries(id);
    assert.deepEqual(reported(events), stored.map((s) => ({ event: s.kind, data: s.data })));
    assert.deepEqual(reported(events).filter((e) => e.event === 'output').map((e) => (e.data as { chunk: string }).chunk), [1, 2, 3, 4, 5].map((i) => `step ${i} done\n`));
    const progress = reported(events).filter((e) => e.event === 'progress').map((e) => e.data);
    assert.deepEqual(progress.at(-1), { fraction: 1, message: 'step 5 of 5' });
    assert.ok(reported(events).some((e) => e.event === 'log' && (e.data as { message: string }).message === 'starting'));
    // The latest progress is stored with the task.
    const { rows } = await ctx.pool.query('SELECT fraction, message FROM task_progress WHERE task_id = $1', [id]);
    assert.deepEqual(rows, [{ fraction: 1, message: 'step 5 of 5' }]);
  });

  it('a stream cut and resumed with Last-Event-ID misses nothing and repeats nothing', async () => {
    const queue = ctx.queue('resume');
    await ctx.startWorker({ queues: [queue] });
    const gw = await ctx.startGateway();
    const submitted = await http<Task>(`${gw.url}/api/v1/tasks/demo.progress`, { json: { args: [6], kwargs: { stepMs: 150 }, options: { queue } } });
    const id = submitted.body.id;
    const first = await openSse(`${gw.url}/api/v1/tasks/${id}/events`);
    await first.until((events) => events.filter((e) => e.event === 'output').length >= 2);
    first.cut();
    await first.ended;
    const lastId = first.events.at(-1)?.id;
    assert.ok(lastId);
    const second = await openSse(`${gw.url}/api/v1/tasks/${id}/events`, { 'last-event-id': lastId });
    await second.ended;
    // Opened after the end: the whole log replayed from the store, then the final state.
    const replay = await openSse(`${gw.url}/api/v1/tasks/${id}/events`);
    await replay.ended;
    const joined = [...first.events, ...second.events];
    assert.deepEqual(reported(joined), reported(replay.events));
    assert.equal(new Set(joined.map((e) => e.id)).size, joined.length, 'no event twice');
    const states = joined.filter((e) => e.event === 'state').map((e) => (e.data as Task).state);
    assert.equal(new Set(states).size, states.length, `no state twice: ${states.join(',')}`);
    assert.equal(states.at(-1), 'SUCCESS');
    assert.equal(replay.events.at(-1)?.event, 'state');
    assert.equal((replay.events.at(-1)?.data as Task).state, 'SUCCESS');
    // Resumed after the final state (EventSource reconnects after every end): 204, which tells it to stop.
    const after = await openSse(`${gw.url}/api/v1/tasks/${id}/events`, { 'last-event-id': replay.events.at(-1)?.id ?? '' });
    await after.ended;
    assert.equal(after.status, 204);
    assert.deepEqual(after.events, []);
  });

  it('an unknown task, another key\'s task and a bad Last-Event-ID are refused', async () => {
    const queue = ctx.queue('keys');
    const gw = await ctx.startGateway({ config: { authMode: 'keys' } });
    const keys = new ApiKeyStore(ctx.pool);
    const alice = { authorization: `Bearer ${(await keys.create({ name: 'alice', scopes: 'demo.*,tasks:read' })).secret}` };
    const bob = { authorization: `Bearer ${(await keys.create({ name: 'bob', scopes: 'demo.*,tasks:read' })).secret}` };
    const submitted = await http<Task>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue } }, headers: alice });
    const id = submitted.body.id;
    const unknown = await http<{ error: { code: string } }>(`${gw.url}/api/v1/tasks/00000000-0000-4000-8000-000000000000/events`, { headers: alice });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'TASK_NOT_FOUND');
    const theirs = await http<{ error: { code: string } }>(`${gw.url}/api/v1/tasks/${id}/events`, { headers: bob });
    assert.equal(theirs.status, 404);
    assert.equal(theirs.body.error.code, 'TASK_NOT_FOUND');
    const anonymous = await http(`${gw.url}/api/v1/tasks/${id}/events`);
    assert.equal(anonymous.status, 401);
    const bad = await http<{ error: { code: string } }>(`${gw.url}/api/v1/tasks/${id}/events`, { headers: { ...alice, 'last-event-id': 'yesterday' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'INVALID_EVENT_ID');
    // The owner streams it: PENDING at once (no worker runs it), and a heartbeat-free first event.
    const mine = await openSse(`${gw.url}/api/v1/tasks/${id}/events`, alice);
    assert.equal(mine.status, 200);
    await mine.until((events) => events.length >= 1);
    assert.equal((mine.events[0]?.data as Task).state, 'PENDING');
    mine.cut();
    await mine.ended;
  });

  it('progress reports are throttled: of a burst, the first goes at once and the last at the end of the interval', async () => {
    const queue = ctx.queue('burst');
    const tasks = [...(await demoApp()).tasks, burst, careless];
    await ctx.startWorker({ queues: [queue], tasks });
    const gw = await ctx.startGateway({ tasks });
    const done = await http<Task>(`${gw.url}/api/v1/tasks/test.burst?wait=30`, { json: { options: { queue } } });
    assert.equal(done.body.state, 'SUCCESS');
    const stored = await entries(done.body.id);
    assert.deepEqual(stored.map((s) => s.data), [{ fraction: 0.01, message: 'report 1' }, { fraction: 1, message: 'report 100' }]);
  });

  it('a fraction outside 0..1, a message too long or a chunk that is not text is clamped or refused in the task\'s log, and the task goes on', async () => {
    const queue = ctx.queue('careless');
    const tasks = [...(await demoApp()).tasks, burst, careless];
    await ctx.startWorker({ queues: [queue], tasks });
    const gw = await ctx.startGateway({ tasks });
    const done = await http<Task>(`${gw.url}/api/v1/tasks/test.careless?wait=30`, { json: { options: { queue } } });
    assert.equal(done.body.state, 'SUCCESS');
    assert.equal(done.body.result, 'still fine');
    const stored = await entries(done.body.id);
    const progress = stored.filter((s) => s.kind === 'progress').map((s) => s.data);
    assert.deepEqual(progress, [{ fraction: 1 }, { fraction: 0.5, message: 'x'.repeat(MAX_PROGRESS_MESSAGE_CHARS) }]);
    const lines = stored.filter((s) => s.kind === 'log').map((s) => `${String(s.data.level)}: ${String(s.data.message)}`);
    assert.ok(lines.some((l) => l.startsWith('warn: ctx.progress: the fraction 1.5 is outside 0..1')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('error: ctx.progress: the fraction must be a number from 0 to 1, got NaN')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith(`warn: ctx.progress: the message has ${MAX_PROGRESS_MESSAGE_CHARS + 100} characters`)), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('error: ctx.stream: a chunk must be a string, got 42')), lines.join('\n'));
    // The stream shows the same, then the end.
    const stream = await openSse(`${gw.url}/api/v1/tasks/${done.body.id}/events`);
    await stream.ended;
    assert.equal(stream.events.filter((e) => e.event === 'log').length, lines.length);
  });

  it('a CPU task reports from its thread: progress, output and log lines are stored and streamed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'celerity-events-'));
    try {
      await writeFile(path.join(dir, 'tasks.mjs'), CPU_APP);
      const app = await loadApp(path.join(dir, 'tasks.mjs'));
      const queue = ctx.queue('cpu');
      await ctx.startWorker({ queues: [queue], tasks: app.tasks, appUrl: app.url, cpuThreads: 1 });
      const gw = await ctx.startGateway({ tasks: app.tasks });
      const done = await http<Task>(`${gw.url}/api/v1/tasks/cpu.reporting?wait=30`, { json: { options: { queue } } });
      assert.equal(done.body.state, 'SUCCESS');
      const stored = await entries(done.body.id);
      const progress = stored.filter((s) => s.kind === 'progress').map((s) => s.data);
      assert.deepEqual(progress, [{ fraction: 0.5, message: 'half' }, { fraction: 1 }]);
      assert.deepEqual(stored.filter((s) => s.kind === 'output').map((s) => s.data), [{ chunk: 'from a thread' }]);
      const lines = stored.filter((s) => s.kind === 'log').map((s) => String(s.data.message));
      assert.ok(lines.includes('a line from a thread'), lines.join('\n'));
      assert.ok(lines.some((l) => l.startsWith('ctx.progress: the fraction 2 is outside 0..1')), lines.join('\n'));
      const stream = await openSse(`${gw.url}/api/v1/tasks/${done.body.id}/events`);
      await stream.ended;
      assert.deepEqual(reported(stream.events), stored.map((s) => ({ event: s.kind, data: s.data })));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a client that never reads is dropped once its buffer is full; the gateway stays up', async () => {
    const queue = ctx.queue('slow');
    const tasks = [...(await demoApp()).tasks, chatty];
    const gw = await ctx.startGateway({ tasks });
    const submitted = await http<Task>(`${gw.url}/api/v1/tasks/test.chatty`, { json: { options: { queue } } });
    const { port } = new URL(gw.url);
    // A raw client: sends the request, then never reads.
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`GET /api/v1/tasks/${submitted.body.id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    socket.pause();
    await waitFor('the stream to be open', async () => /celerity_event_streams_open\S* 1$/m.test((await http<string>(`${gw.url}/metrics`)).body));
    await ctx.startWorker({ queues: [queue], tasks });
    await waitFor('the slow client to be dropped', async () => /celerity_event_streams_ended_total\{[^}]*reason="slow-consumer"[^}]*\} 1$/m.test((await http<string>(`${gw.url}/metrics`)).body), { timeoutMs: 60_000 });
    socket.destroy();
    const done = await http<Task>(`${gw.url}/api/v1/tasks/${submitted.body.id}?wait=30`);
    assert.equal(done.body.state, 'SUCCESS');
  });
});
