/**
 * Retries, dead letters and re-drive, the delivery limit, time limits, countdown/eta and
 * idempotency keys, against the real broker and database.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { DELAY_LEVELS_MS } from '../../shared/src/broker/delay.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitFor, waitForState, type Task } from '../helpers/harness.js';
import { CELERITY_CLI, demoApp } from '../helpers/demo.js';

const run = promisify(execFile);

interface DeadLettersBody {
  queue: string;
  deadLetters: { id: string | null; name: string | null; reason: string | null; error: { type: string; message: string } | null; retries: number }[];
}

describe('reliability', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a retryable failure is retried with backoff until it succeeds; the record shows the retries and attempts', async () => {
    const queue = ctx.queue('flaky');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.flaky?wait=30`, { json: { args: [2], options: { queue } } });
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'SUCCESS');
    assert.equal(res.body.result, 3, 'succeeded on the third attempt');
    assert.equal(res.body.attempts, 3, 'the ?wait= answer (from the reply) counts the attempts too');
    const stored = await ctx.finalRow(res.body.id);
    assert.equal(stored.retries, 2);
    assert.equal(stored?.attempts, 3);
    assert.deepEqual(await ctx.deadLetters(queue), [], 'a task that succeeded leaves no dead letter');
  });

  it('after its last retry a task is FAILURE and its message is dead-lettered with the error; options.maxRetries overrides the policy', async () => {
    const queue = ctx.queue('exhaust');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.flaky?wait=30`, { json: { args: [5, 'still broken'], options: { queue, maxRetries: 1 } } });
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'FAILURE');
    assert.deepEqual(res.body.error, { type: 'RetryableError', message: 'still broken' });
    assert.equal(res.body.retries, 1);
    const listed = await waitFor('the dead letter', async () => {
      const r = await http<DeadLettersBody>(`${url}/api/v1/dead-letters?queue=${queue}`);
      return r.body.deadLetters.length === 1 ? r.body : undefined;
    });
    assert.equal(listed.deadLetters[0]?.id, res.body.id);
    assert.equal(listed.deadLetters[0]?.reason, 'failed');
    assert.deepEqual(listed.deadLetters[0]?.error, { type: 'RetryableError', message: 'still broken' });
    assert.equal(listed.deadLetters[0]?.retries, 1);
    // Listing does not consume.
    assert.equal((await ctx.deadLetters(queue)).length, 1);
    assert.equal((await ctx.queueDepth(queue)).messages, 0);
  });

  it('a permanent failure is not retried and is dead-lettered', async () => {
    const queue = ctx.queue('permanent');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=30`, { json: { args: ['boom'], options: { queue } } });
    assert.equal(res.body.state, 'FAILURE');
    assert.equal(res.body.retries, 0);
    const letters = await waitFor('the dead letter', async () => {
      const l = await ctx.deadLetters(queue);
      return l.length === 1 ? l : undefined;
    });
    assert.equal(letters[0]?.error?.type, 'PermanentError');
  });

  it('dead letters re-driven over HTTP run again, once the worker can run them', async () => {
    const queue = ctx.queue('redrive');
    const { url } = await ctx.startGateway();
    // A worker deployed without demo.add: the task is unknown to it, fails and is dead-lettered.
    const without = (await demoApp()).tasks.filter((task) => task.name !== 'demo.add');
    const old = await ctx.startWorker({ queues: [queue], tasks: without });
    const submitted = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [20, 22], options: { queue } } });
    const failed = await waitForState(url, submitted.body.id, ['FAILURE']);
    assert.equal(failed.error?.type, 'UnknownTaskError');
    await waitFor('the dead letter', async () => (await ctx.deadLetters(queue)).length === 1);
    // The fix is deployed: a worker that has the task.
    await old.stop();
    await ctx.startWorker({ queues: [queue] });
    const redrive = await http<{ redriven: number; ids: string[] }>(`${url}/api/v1/dead-letters/redrive`, { json: { queue } });
    assert.equal(redrive.status, 200);
    assert.deepEqual(redrive.body.ids, [submitted.body.id]);
    const done = await waitForState(url, submitted.body.id, ['SUCCESS']);
    assert.equal(done.result, 42);
    assert.equal(done.retries, 0);
    assert.deepEqual(await ctx.deadLetters(queue), []);
  });

  it('the CLI lists dead letters as JSON lines and re-drives only the ids asked for', async () => {
    const queue = ctx.queue('cli');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const ids: string[] = [];
    for (const message of ['one', 'two']) {
      const r = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=30`, { json: { args: [message], options: { queue } } });
      assert.equal(r.body.state, 'FAILURE');
      ids.push(r.body.id);
    }
    await waitFor('two dead letters', async () => (await ctx.deadLetters(queue)).length === 2);
    const env = { ...process.env, AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: ctx.schema };
    const listed = await run(process.execPath, [CELERITY_CLI, 'dead-letters', 'list', '--queue', queue], { env });
    const lines = listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; reason: string; error: { message: string } });
    assert.deepEqual(lines.map((l) => l.id), ids);
    assert.deepEqual(lines.map((l) => l.error.message), ['one', 'two']);
    const redriven = await run(process.execPath, [CELERITY_CLI, 'dead-letters', 'redrive', '--queue', queue, '--id', ids[1] ?? ''], { env });
    assert.deepEqual(JSON.parse(redriven.stdout) as unknown, { queue, redriven: 1, ids: [ids[1]], skipped: [] });
    // demo.fail fails again on the re-drive and comes back: both dead letters, the second one new.
    await waitFor('the re-driven task to fail again', async () => (await ctx.store.get(ids[1] ?? ''))?.state === 'FAILURE');
    await waitFor('the second dead letter back', async () => (await ctx.deadLetters(queue)).length === 2);
    assert.deepEqual((await ctx.deadLetters(queue)).map((l) => l.id), ids);
  });

  it('a message that keeps crashing its worker is dead-lettered after the delivery limit', async () => {
    const queue = ctx.queue('crash');
    const { url } = await ctx.startGateway();
    const submitted = await http<Task>(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [120], options: { queue } } });
    const id = submitted.body.id;
    // Two workers in turn take the task and are killed (-9) while running it.
    for (let delivery = 1; delivery <= 2; delivery++) {
      const worker = await ctx.spawnWorker([queue], { WORKER_DELIVERY_LIMIT: '2' });
      await waitFor(`delivery ${delivery} to be recorded`, async () => {
        const t = await ctx.store.get(id);
        return t?.state === 'STARTED' && t.deliveries === delivery;
      }, { timeoutMs: 30_000 });
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
    // The third delivery is past the limit: not run, dead-lettered.
    await ctx.spawnWorker([queue], { WORKER_DELIVERY_LIMIT: '2' });
    const failed = await waitForState(url, id, ['FAILURE']);
    assert.equal(failed.error?.type, 'DeliveryLimitExceeded');
    assert.equal(failed.attempts, 2, 'the record shows both attempts');
    const letters = await waitFor('the dead letter', async () => {
      const l = await ctx.deadLetters(queue);
      return l.length === 1 ? l : undefined;
    });
    assert.equal(letters[0]?.reason, 'delivery-limit');
    assert.equal((await ctx.queueDepth(queue)).messages, 0);
  });

  it('a worker killed mid-task: the message is redelivered, another worker completes it, the record shows the extra attempt', async () => {
    const queue = ctx.queue('kill');
    const { url } = await ctx.startGateway();
    const submitted = await http<Task>(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [3], options: { queue } } });
    const first = await ctx.spawnWorker([queue]);
    const started = await waitFor('the task to start', async () => {
      const t = await ctx.store.get(submitted.body.id);
      return t?.state === 'STARTED' ? t : undefined;
    }, { timeoutMs: 30_000 });
    assert.equal((await ctx.queueDepth(queue)).messages, 0, 'held unacked by the first worker');
    first.child.kill('SIGKILL');
    await first.exited;
    // The redelivery itself: the broker puts the unacked message back on its queue.
    await waitFor('the message to be back on its queue', async () => (await ctx.queueDepth(queue)).messages === 1);
    const second = await ctx.startWorker({ queues: [queue] });
    // The redelivered copy first waits for the dead worker's lease to lapse (6 s at most).
    const done = await waitFor('the task to succeed on the second worker', async () => {
      const { body } = await http<Task>(`${url}/api/v1/tasks/${submitted.body.id}`);
      return body.state === 'SUCCESS' ? body : undefined;
    }, { timeoutMs: 45_000 });
    assert.equal(done.result, 3);
    assert.equal(done.attempts, 2);
    const row = await ctx.finalRow(submitted.body.id);
    assert.notEqual(started.worker, second.name);
    assert.equal(row.worker, second.name, 'the second worker ran it');
    assert.equal(row.deliveries, 2, 'from its second delivery');
  });

  it('the hard time limit fails an in-process task and gives its slot back', async () => {
    const queue = ctx.queue('hard');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], concurrency: 1 });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.sleep?wait=30`, { json: { args: [60], options: { queue, timeLimit: 0.5 } } });
    assert.equal(res.body.state, 'FAILURE');
    assert.equal(res.body.error?.type, 'TimeLimitExceeded');
    // The reply comes before the commit and the ack, which give the slot back.
    await waitFor('the slot to be given back', () => worker.inFlight === 0);
    // The slot is free: with concurrency 1, the next task runs at once.
    const next = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=30`, { json: { args: [1, 1], options: { queue } } });
    assert.equal(next.body.result, 2);
  });

  it('the hard time limit terminates a thread-pool task', async () => {
    const queue = ctx.queue('hardcpu');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue], cpuThreads: 1 });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.fib?wait=30`, { json: { args: [45], options: { queue, timeLimit: 0.5 } } });
    assert.equal(res.body.state, 'FAILURE');
    assert.equal(res.body.error?.type, 'TimeLimitExceeded');
    // The pool replaced the terminated thread and still serves.
    const next = await http<Task>(`${url}/api/v1/tasks/demo.fib?wait=30`, { json: { args: [20], options: { queue } } });
    assert.equal(next.body.result, 6765);
  });

  it('the soft time limit fires the task’s AbortSignal', async () => {
    const queue = ctx.queue('soft');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const res = await http<Task>(`${url}/api/v1/tasks/demo.sleep?wait=30`, { json: { args: [60], options: { queue, softTimeLimit: 0.3, timeLimit: 20 } } });
    assert.equal(res.body.state, 'FAILURE');
    assert.equal(res.body.error?.type, 'SoftTimeLimitExceeded');
  });

  it('countdown: the task waits in the broker, not in a worker, and never runs early', async () => {
    const queue = ctx.queue('countdown');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue] });
    const submitted = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [2, 3], options: { queue, countdown: 1.5 } } });
    assert.equal(submitted.status, 202);
    assert.equal(worker.inFlight, 0);
    assert.equal((await ctx.queueDepth(queue)).messages, 0, 'the task is not on its queue yet');
    const done = await waitForState(url, submitted.body.id, ['SUCCESS']);
    assert.equal(done.result, 5);
    const waitedMs = Date.parse(done.startedAt ?? '') - Date.parse(done.createdAt);
    assert.ok(waitedMs >= 1_500, `started ${waitedMs} ms after the submit`);
  });

  it('a task published with a future eta by another client goes round the delay queues, not held unacked', async () => {
    const queue = ctx.queue('eta');
    const worker = await ctx.startWorker({ queues: [queue] });
    const id = randomUUID();
    const task = newTaskMessage({ id, name: 'demo.add', args: [4, 4], kwargs: {} });
    const due = Date.now() + 1_200;
    task.eta = new Date(due).toISOString();
    const message = encodeTaskMessage(task);
    await ctx.publishRaw(queue, message.content, message.options);
    await waitFor('the worker to send it to the delay queues', async () => (await ctx.queueDepth(queue)).messages === 0 && worker.inFlight === 0);
    const done = await waitFor('the task to run', async () => {
      const t = await ctx.store.get(id);
      return t?.state === 'SUCCESS' ? t : undefined;
    });
    assert.equal(done.result, 8);
    assert.ok((done.startedAt?.getTime() ?? 0) >= due, 'not before its eta');
    assert.ok(DELAY_LEVELS_MS.length > 0);
  });

  it('Idempotency-Key after a publish without confirm: the retry publishes the same task id, which runs at most once', async () => {
    const queue = ctx.queue('unconfirmed');
    const { url } = await ctx.startGateway();
    const worker = await ctx.startWorker({ queues: [queue], metrics: true });
    const key = `k-${randomUUID()}`;
    const body = { args: [5, 5], options: { queue } };
    const first = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=10`, { json: body, headers: { 'idempotency-key': key } });
    assert.equal(first.body.state, 'SUCCESS');
    // The worker replied before its commit: the row is final a moment later.
    const before = await waitFor('the result to be committed', async () => {
      const t = await ctx.store.get(first.body.id);
      return t?.state === 'SUCCESS' ? t : undefined;
    });
    // As if that publish had failed without a confirm although the broker kept the message.
    await ctx.pool.query('UPDATE idempotency_keys SET unconfirmed = true WHERE key = $1', [key]);
    const retry = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: body, headers: { 'idempotency-key': key } });
    assert.equal(retry.status, 202);
    assert.equal(retry.body.id, first.body.id, 'the same task, published again');
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    await waitFor('the copy to be consumed', async () => (await ctx.queueDepth(queue)).messages === 0 && worker.inFlight === 0);
    const metrics = (await http<string>(`http://127.0.0.1:${worker.metricsPort}/metrics`)).body;
    assert.match(metrics, new RegExp(`celerity_worker_tasks_total\\{[^}]*queue="${queue.replace(/\./g, '\\.')}"[^}]*outcome="success"[^}]*\\} 1\\b`));
    const after = await ctx.store.get(first.body.id);
    assert.equal(after?.finishedAt?.getTime(), before?.finishedAt?.getTime(), 'the finished task was not run again');
    // The key is confirmed again: a further retry is a plain replay.
    const third = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: body, headers: { 'idempotency-key': key } });
    assert.equal(third.body.id, first.body.id);
    assert.equal(third.body.state, 'SUCCESS');
  });

  it('a queue at its QUEUE_MAX_LENGTH: submits get 503 QUEUE_FULL with Retry-After until workers drain it', async () => {
    const queue = ctx.queue('full');
    const { url, gateway } = await ctx.startGateway({ queueStatsIntervalMs: 200, queueMaxLength: { default: 0, perQueue: { [queue]: 3 } } });
    for (let i = 0; i < 3; i++) {
      const r = await http(`${url}/api/v1/tasks/demo.add`, { json: { args: [i, 1], options: { queue } } });
      assert.equal(r.status, 202);
    }
    // Counted at once from this gateway's own publishes, before any new sample.
    const full = await http<{ error: { code: string } }>(`${url}/api/v1/tasks/demo.add`, { json: { args: [9, 9], options: { queue } } });
    assert.equal(full.status, 503);
    assert.equal(full.body.error.code, 'QUEUE_FULL');
    assert.equal(full.headers.get('retry-after'), '5');
    // And from the broker's own count once sampled.
    await waitFor('a sample with 3 messages', () => gateway.queueStats.get(queue)?.messages === 3);
    assert.equal((await http(`${url}/api/v1/tasks/demo.add`, { json: { args: [9, 9], options: { queue } } })).status, 503);
    assert.equal((await ctx.queueDepth(queue)).messages, 3, 'nothing was published past the limit');
    // A worker drains the queue: submits are accepted again.
    await ctx.startWorker({ queues: [queue] });
    await waitFor('the queue to drain and be sampled', () => gateway.queueStats.get(queue)?.messages === 0);
    const ok = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [1, 2], options: { queue } } });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.result, 3);
  });

  it('Idempotency-Key: the same key and body give the same task, once; another body with the key is 409', async () => {
    const queue = ctx.queue('idem');
    const { url } = await ctx.startGateway();
    await ctx.startWorker({ queues: [queue] });
    const key = `order-${randomUUID()}`;
    const body = { args: [7, 8], options: { queue } };
    // Concurrent first submits with one key: one task.
    const first = await Promise.all(Array.from({ length: 8 }, () => http<Task>(`${url}/api/v1/tasks/demo.add`, { json: body, headers: { 'idempotency-key': key } })));
    const ids = new Set(first.map((r) => r.body.id));
    assert.equal(ids.size, 1, 'every submit got the same task');
    assert.deepEqual(first.map((r) => r.status), Array.from({ length: 8 }, () => 202));
    assert.equal(first.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 7);
    const [id] = [...ids];
    const done = await waitForState(url, id ?? '', ['SUCCESS']);
    assert.equal(done.result, 15);
    // A later retry with ?wait= gets the finished task.
    const again = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=5`, { json: body, headers: { 'idempotency-key': key } });
    assert.equal(again.status, 200);
    assert.equal(again.body.id, id);
    assert.equal(again.body.result, 15);
    const { rows } = await ctx.pool.query<{ n: string }>('SELECT count(*) AS n FROM tasks');
    assert.equal(rows[0]?.n, '1', 'one task ran');
    const other = await http<{ error: { code: string } }>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 1], options: { queue } }, headers: { 'idempotency-key': key } });
    assert.equal(other.status, 409);
    assert.equal(other.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
  });
});
