/**
 * Interoperability with real Python Celery (Debian's python3-celery; scripts/ensure-celery.sh):
 * a Python client calls Celerity workers, and the Celerity gateway calls Python workers, over
 * the same RabbitMQ, with Celery's protocol v2 and rpc:// result backend.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type GetMessage } from 'amqplib';
import { parseQueueTypes } from '../../shared/src/config/parse.js';
import { taskQueueArguments } from '../../shared/src/broker/topology.js';
import { TEST_AMQP_URL, TestContext, http, waitFor, type Task } from '../helpers/harness.js';
import { runPythonClient, startPythonWorker, type PythonOutcome } from '../helpers/python-celery.js';

const UNICODE_ARGS = ['héllo wörld', '日本語', '🚀 emoji', { nested: [1, { deeper: [true, null, 'ç', 1.5] }] }];
const UNICODE_KWARGS = { clé: 'välue', list: [[1, 2], [3]], obj: { a: { b: { c: 'ð' } } } };

function ok(outcome: PythonOutcome | undefined): Extract<PythonOutcome, { ok: true }> {
  assert.ok(outcome, 'the client printed an outcome');
  assert.equal(outcome.ok, true, `the call succeeded: ${JSON.stringify(outcome).slice(0, 500)}`);
  return outcome;
}

function failed(outcome: PythonOutcome | undefined): Extract<PythonOutcome, { ok: false }> {
  assert.ok(outcome, 'the client printed an outcome');
  assert.equal(outcome.ok, false, `the call failed: ${JSON.stringify(outcome).slice(0, 500)}`);
  return outcome;
}

describe('Python Celery client → Celerity worker', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('send_task + AsyncResult.get(): results, failures as Python exceptions, unicode, kwargs, a chosen id', async () => {
    const queue = ctx.queue('pyclient');
    const worker = await ctx.startWorker({ queues: [queue] });
    const chosenId = `python-chosen-${ctx.suffix}`;
    const [add, echo, fail, typeError, unknown] = await runPythonClient([
      { task: 'demo.add', args: [1, 2], queue, task_id: chosenId },
      { task: 'demo.echo', args: UNICODE_ARGS, kwargs: UNICODE_KWARGS, queue },
      { task: 'demo.fail', args: ['boom ünïcode'], queue },
      { task: 'demo.add', args: ['one', 2], queue },
      { task: `nobody.knows.${ctx.suffix}`, args: [], queue },
    ]);

    // Python chose the id; it round-trips unchanged through the worker, the store and the reply.
    assert.deepEqual(ok(add), { ok: true, id: chosenId, state: 'SUCCESS', result: 3 });
    const stored = await ctx.store.get(chosenId);
    assert.equal(stored?.state, 'SUCCESS');
    assert.equal(stored?.result, 3);
    assert.equal(stored?.queue, queue);
    assert.equal(stored?.worker, worker.name);

    assert.deepEqual(ok(echo).result, { args: UNICODE_ARGS, kwargs: UNICODE_KWARGS });
    assert.deepEqual((await ctx.store.get(ok(echo).id))?.kwargs, UNICODE_KWARGS);

    // Celery re-raises the failure with the original message; types Python does not have become
    // Exception subclasses of the same name (celery.backends.base.exception_to_python).
    const f = failed(fail);
    assert.equal(f.state, 'FAILURE');
    assert.equal(f.exc_type, 'PermanentError');
    assert.equal(f.message, 'boom ünïcode');
    assert.deepEqual(f.exc_args, ['boom ünïcode']);
    assert.deepEqual((await ctx.store.get(f.id ?? ''))?.error, { type: 'PermanentError', message: 'boom ünïcode' });

    const t = failed(typeError);
    assert.equal(t.exc_type, 'InvalidArgumentsError');
    assert.match(t.message, /Invalid arguments for demo\.add: args\.0/);

    const u = failed(unknown);
    assert.equal(u.exc_type, 'UnknownTaskError');
    assert.match(u.message, /no task named "nobody\.knows\./);
  });

  it('carries a ~1 MB argument to the worker and the same back in the reply', async () => {
    const queue = ctx.queue('pybig');
    await ctx.startWorker({ queues: [queue] });
    const big = 'é'.repeat(512 * 1024); // 1 MiB of UTF-8
    const [echo] = await runPythonClient([{ task: 'demo.echo', args: [big], kwargs: { n: 1 }, queue, timeout: 60 }]);
    const result = ok(echo).result as { args: string[]; kwargs: unknown };
    assert.equal(result.args[0]?.length, big.length);
    assert.equal(result.args[0], big);
    assert.deepEqual(result.kwargs, { n: 1 });
  });

  it('honours a Python expires in the future; a message that arrives expired is REVOKED and acked', async () => {
    const queue = ctx.queue('pyexpires');
    await ctx.startWorker({ queues: [queue] });
    // Celery writes expires as Python's isoformat (microseconds, +00:00) and sets `expiration`.
    const [fresh] = await runPythonClient([{ task: 'demo.add', args: [20, 22], queue, expires: 120 }]);
    assert.equal(ok(fresh).result, 42);

    // Already expired: Celery sends expiration 0, which RabbitMQ delivers only to a consumer ready
    // for it (ours is idle). The worker revokes it; Python raises Celery's own TaskRevokedError.
    const [stale] = await runPythonClient([{ task: 'demo.add', args: [1, 1], queue, expires: -30, timeout: 30 }]);
    const revoked = failed(stale);
    assert.equal(revoked.state, 'REVOKED');
    assert.equal(revoked.exc_type, 'TaskRevokedError');
    assert.equal(revoked.exc_module, 'celery.exceptions');
    assert.equal(revoked.message, 'expired');
    assert.equal((await ctx.store.get(revoked.id ?? ''))?.state, 'REVOKED');

    // A producer that sets no TTL (or a message prefetched too long): the worker must not run it.
    const id = `expired-${ctx.suffix}`;
    await ctx.publishRaw(queue, Buffer.from(JSON.stringify([[1, 2], {}, { callbacks: null, errbacks: null, chain: null, chord: null }])), {
      correlationId: id,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      deliveryMode: 2,
      headers: { lang: 'py', task: 'demo.add', id, expires: new Date(Date.now() - 60_000).toISOString(), retries: 0, timelimit: [null, null] },
    });
    const record = await waitFor('the expired task to be recorded', async () => {
      const r = await ctx.store.get(id);
      return r?.state === 'REVOKED' ? r : undefined;
    });
    assert.deepEqual(record.error, { type: 'TaskRevokedError', message: 'expired' });
    assert.equal(record.result, null);
    await waitFor('the expired message to be acked', async () => (await ctx.queueDepth(queue)).messages === 0);
  });
});

describe('Celerity gateway → Python Celery worker', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('runs submitted tasks on a Python worker; results reach ?wait= and the store', async () => {
    const queue = ctx.queue('pyworker');
    // The Python worker declares the queue first; the gateway's declaration must be equivalent.
    await startPythonWorker(ctx, queue);
    const { url } = await ctx.startGateway({ externalTasks: [{ name: 'py.describe', queue }] });

    const add = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=60`, { json: { args: [2, 3], options: { queue } } });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    assert.equal(add.body.state, 'SUCCESS');
    assert.equal(add.body.result, 5);
    // Recorded before the waiter was answered: the store already has it.
    const stored = await ctx.store.get(add.body.id);
    assert.equal(stored?.state, 'SUCCESS');
    assert.equal(stored?.result, 5);
    assert.equal(stored?.name, 'demo.add');
    assert.equal(stored?.queue, queue);
    assert.ok(stored?.finishedAt, 'finishedAt recorded');

    const echo = await http<Task>(`${url}/api/v1/tasks/demo.echo?wait=60`, {
      json: { args: UNICODE_ARGS, kwargs: UNICODE_KWARGS, options: { queue, expires: 300, priority: 3 } },
    });
    assert.equal(echo.status, 200, JSON.stringify(echo.body));
    assert.deepEqual(echo.body.result, { args: UNICODE_ARGS, kwargs: UNICODE_KWARGS });

    const fail = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=60`, { json: { args: ['kaputt ✗'], options: { queue } } });
    assert.equal(fail.status, 200);
    assert.equal(fail.body.state, 'FAILURE');
    assert.deepEqual(fail.body.error, { type: 'ValueError', message: 'kaputt ✗' });
    assert.deepEqual((await ctx.store.get(fail.body.id))?.error, { type: 'ValueError', message: 'kaputt ✗' });

    // A task only Python implements, submitted without waiting: the gateway still asks for the
    // reply and records the result, so GET shows it.
    const described = await http<Task>(`${url}/api/v1/tasks/py.describe`, { json: { args: [1, 'two'], kwargs: { three: [3] } } });
    assert.equal(described.status, 202);
    assert.equal(described.body.queue, queue);
    const done = await waitFor('py.describe to be recorded', async () => {
      const r = await http<Task>(`${url}/api/v1/tasks/${described.body.id}`);
      return r.body.state === 'SUCCESS' ? r.body : undefined;
    }, { timeoutMs: 60_000 });
    assert.deepEqual(done.result, { runtime: 'python', args: [1, 'two'], kwargs: { three: [3] } });
  });

  it('carries a payload just under the gateway body limit to a Python worker and back', async () => {
    const queue = ctx.queue('pyworkerbig');
    await startPythonWorker(ctx, queue);
    const maxBodyBytes = 1024 * 1024;
    const { url } = await ctx.startGateway({ maxBodyBytes });
    const envelope = JSON.stringify({ args: [''], options: { queue } });
    const big = 'x'.repeat(maxBodyBytes - Buffer.byteLength(envelope) - 16);
    const body = JSON.stringify({ args: [big], options: { queue } });
    assert.ok(Buffer.byteLength(body) < maxBodyBytes && Buffer.byteLength(body) > maxBodyBytes - 64);
    const res = await http<Task>(`${url}/api/v1/tasks/demo.echo?wait=60`, { body, headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300));
    assert.equal((res.body.result as { args: string[] }).args[0], big);
    assert.equal(((await ctx.store.get(res.body.id))?.result as { args: string[] }).args[0]?.length, big.length);
  });
});

/** Takes every message off `queue` (for inspection; the queue is the test's own). */
async function drain(queue: string): Promise<GetMessage[]> {
  const connection = await amqp.connect(TEST_AMQP_URL);
  try {
    const channel = await connection.createChannel();
    const messages: GetMessage[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) return messages;
      messages.push(message);
    }
  } finally {
    await connection.close();
  }
}

describe('Celery protocol v2 on the wire, compared with Python Celery', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('the gateway publishes the same properties, headers and body as Celery 5 (expires, priority included)', async () => {
    const queue = ctx.queue('wire');
    const { url } = await ctx.startGateway();
    const ours = await http<Task>(`${url}/api/v1/tasks/demo.echo`, {
      json: { args: [1, 'ü'], kwargs: { k: [true] }, options: { queue, expires: 120, priority: 7 } },
    });
    assert.equal(ours.status, 202, JSON.stringify(ours.body));
    await waitFor('the gateway message', async () => (await ctx.queueDepth(queue)).messages === 1);
    const [theirs] = await runPythonClient([{ task: 'demo.echo', args: [1, 'ü'], kwargs: { k: [true] }, queue, expires: 120, priority: 7, wait: false }]);
    const pythonId = ok(theirs).id;
    await waitFor('both messages', async () => (await ctx.queueDepth(queue)).messages === 2);
    const messages = await drain(queue);
    const byId = new Map(messages.map((m) => [String(m.properties.correlationId), m]));
    const celerity = byId.get(ours.body.id);
    const celery = byId.get(pythonId);
    assert.ok(celerity && celery, 'both messages found by correlation_id');

    // Celerity may add headers of its own (x-celerity-*); Celery's must all be there, and no other.
    const headerNames = (m: GetMessage): string[] => Object.keys(m.properties.headers ?? {}).filter((h) => !h.startsWith('x-celerity-')).sort();
    assert.deepEqual(headerNames(celerity), headerNames(celery));
    for (const m of [celerity, celery]) {
      const h = m.properties.headers as Record<string, unknown>;
      const p = m.properties;
      assert.equal(h.lang, 'py');
      assert.equal(h.task, 'demo.echo');
      assert.equal(h.id, p.correlationId);
      assert.equal(h.root_id, p.correlationId);
      assert.equal(h.parent_id, null);
      assert.equal(h.group, null);
      assert.equal(h.retries, 0);
      assert.equal(h.eta, null);
      assert.deepEqual(h.timelimit, [null, null]);
      assert.equal(h.ignore_result, false);
      assert.equal(typeof h.argsrepr, 'string');
      assert.equal(typeof h.kwargsrepr, 'string');
      assert.match(String(h.origin), /@/);
      // expires: an ISO date about two minutes ahead, and the matching per-message TTL in ms.
      const expiresIn = Date.parse(String(h.expires)) - Date.now();
      assert.ok(expiresIn > 60_000 && expiresIn <= 120_000, `expires header ${String(h.expires)}`);
      const ttl = Number(p.expiration);
      assert.ok(ttl > 60_000 && ttl <= 120_000, `expiration ${String(p.expiration)}`);
      assert.equal(p.priority, 7);
      assert.equal(p.contentType, 'application/json');
      assert.equal(p.contentEncoding, 'utf-8');
      assert.equal(p.deliveryMode, 2);
      assert.deepEqual(JSON.parse(m.content.toString('utf8')), [[1, 'ü'], { k: [true] }, { callbacks: null, errbacks: null, chain: null, chord: null }]);
    }
    // Published to the default exchange with the queue as routing key, as kombu does for a direct queue.
    assert.equal(celerity.fields.exchange, celery.fields.exchange);
    assert.equal(celerity.fields.routingKey, celery.fields.routingKey);
  });

  it('refuses expires in the past and priorities outside 0..255 with 400, accepts an ISO date', async () => {
    const queue = ctx.queue('opts');
    const { url } = await ctx.startGateway();
    for (const options of [{ expires: -5 }, { expires: 0 }, { expires: '2001-01-01T00:00:00Z' }, { expires: '2999-01-01T00:00:00' }, { expires: 'soon' }, { priority: 256 }, { priority: 1.5 }, { priority: -1 }]) {
      const res = await http<{ error: { code: string; message: string } }>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue, ...options } } });
      assert.equal(res.status, 400, `${JSON.stringify(options)} → ${res.status}`);
      assert.match(res.body.error.code, /^INVALID_(REQUEST|OPTIONS)$/, JSON.stringify(res.body));
    }
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const accepted = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 2], options: { queue, expires: at, priority: 0 } } });
    assert.equal(accepted.status, 202);
    await waitFor('the message', async () => (await ctx.queueDepth(queue)).messages === 1);
    const [message] = await drain(queue);
    assert.equal(message?.properties.headers?.expires, at);
    assert.equal(message?.properties.priority, 0);
    assert.deepEqual((await ctx.queueDepth(queue)).messages, 0, 'nothing else published for the refused submits');
  });

  it('queue declarations: Celery’s default declaration is equivalent to ours; a quorum declaration is refused with a clear error', async () => {
    const queue = ctx.queue('decl');
    await ctx.startWorker({ queues: [queue] });
    // Celery declares Queue(q, Exchange(q, 'direct'), routing_key=q), durable: equivalent.
    const [plain] = await runPythonClient([{ task: 'demo.add', args: [1, 1], queue }]);
    assert.equal(ok(plain).result, 2);
    // A separate client: kombu remembers what it declared for the life of a connection.
    const [quorum] = await runPythonClient([{ task: 'demo.add', args: [1, 1], queue, queue_arguments: { 'x-queue-type': 'quorum' } }]);
    // The classic trap, shown by the real client: inequivalent arguments → PRECONDITION_FAILED.
    const refused = failed(quorum);
    assert.equal(refused.state, 'NOT_SENT');
    assert.match(refused.message, /PRECONDITION_FAILED/);
  });

  it('a quorum queue shared with a Python client that declares the arguments docs/celery.md lists', async () => {
    const queue = ctx.queue('quorum');
    const queueTypes = parseQueueTypes('QUEUE_TYPES', `${queue}=quorum`);
    await ctx.startWorker({ queues: [queue], queueTypes });
    // What docs/celery.md tells a Celery client to pass as Queue(..., queue_arguments={...}).
    const queue_arguments = {
      'x-queue-type': 'quorum',
      'x-delivery-limit': 20,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': `${queue}.dead`,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    };
    assert.deepEqual(queue_arguments, taskQueueArguments(queue, queueTypes), 'the documented arguments are the ones Celerity declares');
    const [sent] = await runPythonClient([{ task: 'demo.add', args: [20, 22], queue, queue_arguments }]);
    assert.equal(ok(sent).result, 42);
  });
});
