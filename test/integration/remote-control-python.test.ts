/**
 * Celery's remote control reaches Celerity workers: real Python Celery (Debian's python3-celery)
 * runs `app.control.inspect()` and `app.control.<command>()` against a running Celerity worker.
 * Every call names the test's own worker (`destination`): other tests' workers share the broker.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { TEST_AMQP_URL, TestContext, waitFor } from '../helpers/harness.js';
import { runPythonClient, runPythonControl, type PythonOutcome } from '../helpers/python-celery.js';

type Replies = Record<string, unknown> | null;

function result(outcome: PythonOutcome | undefined): unknown {
  assert.ok(outcome?.ok, `the call succeeded: ${JSON.stringify(outcome).slice(0, 500)}`);
  return outcome.result;
}

describe('Python Celery remote control → Celerity worker', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('inspect(): ping, registered, stats, active_queues, reserved, scheduled and active list the worker', async () => {
    const queue = ctx.queue('pyinspect');
    const name = `celerity-${ctx.suffix}@pidbox`;
    const worker = await ctx.startWorker({ queues: [queue], name, concurrency: 1 });
    // One task running (the slot), so that `active` shows it.
    const [sent] = await runPythonClient([{ task: 'demo.sleep', args: [30], queue, wait: false }]);
    const taskId = sent?.id ?? '';
    await waitFor('the worker to run demo.sleep', () => worker.inFlight === 1);

    const destination = [name];
    const inspect = (method: string) => ({ op: 'inspect' as const, method, destination, timeout: 10 });
    const [ping, registered, stats, queues, reserved, scheduled, active, everyone] = (await runPythonControl([
      inspect('ping'),
      inspect('registered'),
      inspect('stats'),
      inspect('active_queues'),
      inspect('reserved'),
      inspect('scheduled'),
      inspect('active'),
      { op: 'inspect', method: 'ping', timeout: 3 },
    ])) as Replies[];

    assert.deepEqual(ping, { [name]: { ok: 'pong' } });
    assert.deepEqual(everyone?.[name], { ok: 'pong' }, 'a broadcast without destination reaches it too');
    const names = registered?.[name] as string[];
    assert.ok(names.includes('demo.add') && names.includes('demo.sleep'), JSON.stringify(names));
    assert.deepEqual(names, [...names].sort());
    const s = stats?.[name] as { pid: number; pool: { 'max-concurrency': number }; prefetch_count: number; broker: { transport: string }; total: object };
    assert.equal(s.pid, process.pid);
    assert.equal(s.pool['max-concurrency'], 1);
    assert.equal(s.prefetch_count, 1);
    assert.equal(s.broker.transport, 'amqp');
    const q = queues?.[name] as { name: string; exchange: { name: string; type: string }; routing_key: string; durable: boolean }[];
    assert.deepEqual(q.map((x) => [x.name, x.exchange.name, x.exchange.type, x.routing_key, x.durable]), [[queue, queue, 'direct', queue, true]]);
    assert.deepEqual(reserved, { [name]: [] });
    assert.deepEqual(scheduled, { [name]: [] });
    const running = active?.[name] as { id: string; name: string; args: unknown[]; hostname: string; delivery_info: { routing_key: string } }[];
    assert.equal(running.length, 1);
    assert.equal(running[0]?.id, taskId);
    assert.equal(running[0]?.name, 'demo.sleep');
    assert.deepEqual(running[0]?.args, [30]);
    assert.equal(running[0]?.hostname, name);
    assert.equal(running[0]?.delivery_info.routing_key, queue);
  });

  it('add_consumer binds a running worker to a new queue, which it consumes without a restart; cancel_consumer stops it', async () => {
    const queue = ctx.queue('pyhome');
    const added = ctx.queue('pynew');
    const name = `celerity-${ctx.suffix}@pidbox`;
    const worker = await ctx.startWorker({ queues: [queue], name });
    const kwargs = { destination: [name], reply: true, timeout: 10 };

    const [addReply] = await runPythonControl([{ op: 'control', method: 'add_consumer', args: [added], kwargs }]);
    assert.deepEqual(addReply, [{ [name]: { ok: `add consumer ${added}` } }]);
    const [done] = await runPythonClient([{ task: 'demo.add', args: [20, 22], queue: added }]);
    assert.equal(result(done), 42);
    assert.equal((await ctx.store.get(done?.id ?? ''))?.worker, worker.name);

    const [queues, cancelReply, again] = (await runPythonControl([
      { op: 'inspect', method: 'active_queues', destination: [name], timeout: 10 },
      { op: 'control', method: 'cancel_consumer', args: [added], kwargs },
      { op: 'control', method: 'cancel_consumer', args: [added], kwargs },
    ])) as [Replies, unknown, unknown];
    assert.deepEqual((queues?.[name] as { name: string }[]).map((q) => q.name), [queue, added]);
    assert.deepEqual(cancelReply, [{ [name]: { ok: `no longer consuming from ${added}` } }]);
    assert.deepEqual(again, [{ [name]: { error: `not consuming from ${added}` } }]);
    assert.equal((await ctx.queueDepth(added)).consumers, 0);
    // Sent now, it waits in the queue: nobody consumes it any more.
    await runPythonClient([{ task: 'demo.add', args: [1, 1], queue: added, wait: false }]);
    await waitFor('the task to wait in the cancelled queue', async () => (await ctx.queueDepth(added)).messages === 1);
    assert.equal(worker.state, 'RUNNING');
  });

  it('pool_grow, pool_shrink, rate_limit and revoke act on the worker (Worker.resize, setRateLimit, revoke)', async () => {
    const queue = ctx.queue('pyact');
    const parked = ctx.queue('pyparked');
    const name = `celerity-${ctx.suffix}@pidbox`;
    const worker = await ctx.startWorker({ queues: [queue], name, concurrency: 1 });
    const kwargs = { destination: [name], reply: true, timeout: 10 };

    const [grow, shrink, limit, badLimit] = await runPythonControl([
      { op: 'control', method: 'pool_grow', args: [3], kwargs },
      { op: 'control', method: 'pool_shrink', args: [1], kwargs },
      { op: 'control', method: 'rate_limit', args: ['demo.add', '100/m'], kwargs },
      { op: 'control', method: 'rate_limit', args: ['demo.add', 'fast'], kwargs },
    ]);
    assert.deepEqual(grow, [{ [name]: { ok: 'pool will grow' } }]);
    assert.deepEqual(shrink, [{ [name]: { ok: 'pool will shrink' } }]);
    assert.equal(worker.concurrency, 3, '1 + 3 - 1');
    assert.deepEqual(limit, [{ [name]: { ok: 'new rate limit set successfully' } }]);
    assert.match(JSON.stringify(badLimit), /Invalid rate limit string/);

    // A task waiting where no worker consumes, revoked from Python: once consumed it never runs.
    const [sent] = await runPythonClient([{ task: 'demo.add', args: [1, 2], queue: parked, wait: false }]);
    const taskId = sent?.id ?? '';
    const [revoked] = await runPythonControl([{ op: 'control', method: 'revoke', args: [taskId], kwargs }]);
    assert.deepEqual(revoked, [{ [name]: { ok: `tasks ${taskId} flagged as revoked` } }]);
    await runPythonControl([{ op: 'control', method: 'add_consumer', args: [parked], kwargs }]);
    await waitFor('the revoked task to be consumed', async () => (await ctx.queueDepth(parked)).messages === 0);
    const row = await waitFor('the task to end REVOKED', async () => {
      const task = await ctx.store.get(taskId);
      return task?.state === 'REVOKED' ? task : undefined;
    });
    assert.equal(row.result ?? null, null, 'it never ran');
  });

  it('shutdown stops the worker gracefully', async () => {
    const queue = ctx.queue('pyshutdown');
    const name = `celerity-${ctx.suffix}@pidbox`;
    const worker = await ctx.startWorker({ queues: [queue], name });
    await runPythonControl([{ op: 'control', method: 'shutdown', kwargs: { destination: [name] } }]);
    await waitFor('the worker to stop', () => worker.state === 'STOPPED', { timeoutMs: 30_000 });
    assert.equal((await ctx.queueDepth(queue)).consumers, 0);
  });

  it('a message in the mailbox that is not a command is logged and dropped; the worker keeps answering', async () => {
    const queue = ctx.queue('pymalformed');
    const name = `celerity-${ctx.suffix}@pidbox`;
    const worker = await ctx.startWorker({ queues: [queue], name });
    const connection = await amqp.connect(TEST_AMQP_URL);
    try {
      const channel = await connection.createChannel();
      const mailbox = `${name}.celery.pidbox`;
      for (const body of ['not json', '[1, 2]', '{"method": 5}', '{"method": "ping", "destination": "x"}', '{"method": "ping", "reply_to": "nowhere"}']) {
        channel.sendToQueue(mailbox, Buffer.from(body), { contentType: 'application/json' });
      }
      await channel.close();
    } finally {
      await connection.close();
    }
    const dropped = async (): Promise<number> => {
      const metric = await worker.metrics.registry.getSingleMetric('celerity_worker_control_commands_total')?.get();
      return metric?.values.find((v) => v.labels.method === 'invalid' && v.labels.outcome === 'dropped')?.value ?? 0;
    };
    await waitFor('the five messages to be dropped', async () => (await dropped()) === 5);
    const [ping] = (await runPythonControl([{ op: 'inspect', method: 'ping', destination: [name], timeout: 10 }])) as Replies[];
    assert.deepEqual(ping, { [name]: { ok: 'pong' } });
    assert.equal(worker.consuming, true);
  });
});
