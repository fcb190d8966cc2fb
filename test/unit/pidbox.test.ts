/**
 * Celery's remote control without a broker: reading pidbox messages, who a command is for, the
 * commands' replies (Celery's shapes) against a fake worker, and ManagedChannel.cancel.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ConsumeMessage } from 'amqplib';
import { decodeControlMessage, encodeControlMessage, isForWorker, PIDBOX_QUEUE_ARGUMENTS } from '../../shared/src/broker/pidbox.js';
import { pidboxNodeTopology } from '../../shared/src/broker/topology.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { ManagedChannel } from '../../shared/src/broker/managed-channel.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { COMMANDS, type CommandContext } from '../../worker/src/control/commands.js';
import type { ControlTarget, ControlWorker, HeldDelivery } from '../../worker/src/control/control-target.js';
import { queueInfo, statsReply } from '../../worker/src/control/replies.js';
import { FakeBroker } from './fake-amqp.js';
import { waitFor } from './support.js';

const NAME = 'celerity@host:1';

function held(id: string, running: boolean): HeldDelivery {
  const encoded = encodeTaskMessage(newTaskMessage({ id, name: 'demo.add', args: [1, 2], kwargs: {} }));
  const message = {
    content: encoded.content,
    fields: { exchange: '', routingKey: 'q', redelivered: false, deliveryTag: 1, consumerTag: 't' },
    properties: encoded.options,
  } as unknown as ConsumeMessage;
  return { queue: 'q', message, running };
}

function context(target: Omit<ControlTarget, 'name'> = {}, queues = ['q']): CommandContext & { added: string[] } {
  const added: string[] = [];
  const worker: ControlWorker = {
    target: () => ({ name: NAME, ...target }),
    taskNames: ['demo.sleep', 'demo.add'],
    queues: () => queues,
    addQueue: (queue) => Promise.resolve(!queues.includes(queue) && added.push(queue) > 0),
    cancelQueue: (queue) => Promise.resolve(queues.includes(queue)),
    deliveries: () => [held('a', true), held('b', false)],
    totals: () => Promise.resolve({ 'demo.add': 3 }),
    concurrency: 4,
    timeLimits: [null, 1500],
    broker: { hostname: '127.0.0.1', port: 5672, virtualHost: '/' },
    shutdown: () => undefined,
  };
  return { worker, queueTypes: undefined, clock: () => 7, startedAt: Date.now() - 5_000, version: '0.1.0', added };
}

const call = (method: string, args: Record<string, unknown>, ctx: CommandContext): Promise<unknown> => Promise.resolve(COMMANDS[method]?.(args, ctx));

describe('pidbox messages', () => {
  it('reads what kombu publishes, and round-trips what Celerity publishes', () => {
    const body = Buffer.from(JSON.stringify({ method: 'ping', arguments: {}, destination: null, pattern: null, matcher: null, ticket: 't1', reply_to: { exchange: 'reply.celery.pidbox', routing_key: 'oid' } }));
    const decoded = decodeControlMessage(body, { clock: 3, expires: 1_900_000_000.5 });
    assert.deepEqual(decoded, { ok: true, request: { method: 'ping', arguments: {}, destination: undefined, replyTo: { exchange: 'reply.celery.pidbox', routingKey: 'oid' }, ticket: 't1', expires: 1_900_000_000.5 } });
    const ours = decodeControlMessage(encodeControlMessage({ method: 'add_consumer', arguments: { queue: 'x' }, destination: [NAME] }, { ticket: 't2', oid: 'me' }), { expires: 0 });
    assert.ok(ours.ok);
    assert.deepEqual(ours.request.destination, [NAME]);
    assert.deepEqual(ours.request.replyTo, { exchange: 'reply.celery.pidbox', routingKey: 'me' });
    assert.equal(ours.request.expires, undefined, 'expires 0 means never');
  });

  it('refuses what is not a command, with a reason', () => {
    for (const body of ['nope', '[1]', 'null', '{"method": ""}', '{"method": "ping", "arguments": [1]}', '{"method": "ping", "destination": "a"}', '{"method": "ping", "reply_to": {"exchange": 1}}', '{"method": "ping", "ticket": 5}']) {
      const decoded = decodeControlMessage(Buffer.from(body), undefined);
      assert.equal(decoded.ok, false, body);
      assert.ok(!decoded.ok && decoded.reason.length > 0);
    }
  });

  it('never throws, whatever the bytes (property)', () => {
    fc.assert(fc.property(fc.oneof(fc.uint8Array().map((b) => Buffer.from(b)), fc.json().map((j) => Buffer.from(j))), (content) => {
      const decoded = decodeControlMessage(content, undefined);
      assert.equal(typeof decoded.ok, 'boolean');
    }));
  });

  it('a command without destination is for everyone; with one, only for the workers it names', () => {
    const request = (destination: string[] | undefined) => ({ method: 'ping', arguments: {}, destination, replyTo: undefined, ticket: undefined, expires: undefined });
    assert.equal(isForWorker(request(undefined), NAME), true);
    assert.equal(isForWorker(request([NAME, 'other@x']), NAME), true);
    assert.equal(isForWorker(request(['other@x']), NAME), false);
  });

  it('the mailbox is declared as kombu declares it', () => {
    const topology = pidboxNodeTopology(NAME);
    assert.deepEqual(topology.exchanges.map((e) => [e.name, e.type, e.durable, e.autoDelete]), [['celery.pidbox', 'fanout', false, false], ['reply.celery.pidbox', 'direct', false, false]]);
    assert.deepEqual(topology.queues.map((q) => [q.name, q.durable, q.autoDelete, q.arguments]), [[`${NAME}.celery.pidbox`, false, true, PIDBOX_QUEUE_ARGUMENTS]]);
    assert.deepEqual(PIDBOX_QUEUE_ARGUMENTS, { 'x-message-ttl': 300_000, 'x-expires': 10_000 });
  });
});

describe('remote-control replies (Celery shapes)', () => {
  it('ping, registered, scheduled, active, reserved, active_queues, stats', async () => {
    const ctx = context();
    assert.deepEqual(await call('ping', {}, ctx), { ok: 'pong' });
    assert.deepEqual(await call('registered', {}, ctx), ['demo.add', 'demo.sleep']);
    assert.deepEqual(await call('scheduled', {}, ctx), []);
    const active = (await call('active', {}, ctx)) as Record<string, unknown>[];
    assert.deepEqual(active.map((r) => [r.id, r.name, r.type, r.args, r.kwargs, r.hostname, r.acknowledged]), [['a', 'demo.add', 'demo.add', [1, 2], {}, NAME, false]]);
    assert.deepEqual(Object.keys(active[0] ?? {}).sort(), ['acknowledged', 'args', 'delivery_info', 'hostname', 'id', 'kwargs', 'name', 'time_start', 'type', 'worker_pid']);
    assert.deepEqual(((await call('reserved', {}, ctx)) as { id: string }[]).map((r) => r.id), ['b']);
    assert.deepEqual(await call('active_queues', {}, ctx), [queueInfo('q')]);
    const stats = (await call('stats', {}, ctx)) as Record<string, unknown>;
    for (const key of ['total', 'pid', 'clock', 'uptime', 'pool', 'broker', 'prefetch_count', 'rusage']) assert.ok(key in stats, key);
    assert.deepEqual(stats.total, { 'demo.add': 3 });
    assert.equal((stats.pool as Record<string, unknown>)['max-concurrency'], 4);
    assert.equal(stats.uptime, 5);
  });

  it('a quorum queue shows its arguments', () => {
    const info = queueInfo('q', { default: 'quorum', perQueue: {} });
    assert.equal((info.queue_arguments as Record<string, unknown>)['x-queue-type'], 'quorum');
    assert.equal(statsReply({ totals: {}, concurrency: 2, timeLimits: [null, null], broker: { hostname: 'h', port: 1, virtualHost: '/' }, clock: 1, uptimeS: 1, version: 'v' }).prefetch_count, 2);
  });

  it('add_consumer and cancel_consumer: Celery\'s texts; an invalid queue name is refused', async () => {
    const ctx = context();
    assert.deepEqual(await call('add_consumer', { queue: 'new' }, ctx), { ok: 'add consumer new' });
    assert.deepEqual(ctx.added, ['new']);
    assert.deepEqual(await call('add_consumer', { queue: 'q' }, ctx), { ok: 'already consuming from q' });
    await assert.rejects(async () => call('add_consumer', { queue: 'amq.x' }, ctx), /invalid queue name/);
    await assert.rejects(async () => call('add_consumer', { queue: 'emails.dead' }, ctx), /may not be named by a caller/);
    assert.deepEqual(ctx.added, ['new'], 'nothing added');
    assert.deepEqual(await call('cancel_consumer', { queue: 'q' }, ctx), { ok: 'no longer consuming from q' });
    assert.deepEqual(await call('cancel_consumer', { queue: 'zzz' }, ctx), { error: 'not consuming from zzz' });
  });

  it('without the optional parts: Celery\'s error reply, not supported by this worker', async () => {
    const ctx = context();
    assert.deepEqual(await call('pool_grow', {}, ctx), { error: 'pool_grow is not supported by this worker' });
    assert.deepEqual(await call('pool_shrink', { n: 2 }, ctx), { error: 'pool_shrink is not supported by this worker' });
    assert.deepEqual(await call('revoke', { task_id: 'a' }, ctx), { error: 'revoke is not supported by this worker' });
    assert.deepEqual(await call('rate_limit', { task_name: 'demo.add', rate_limit: '1/s' }, ctx), { error: 'rate_limit is not supported by this worker' });
    assert.deepEqual(await call('rate_limit', { task_name: 'nope', rate_limit: '1/s' }, ctx), { error: 'unknown task' });
  });

  it('pool_grow and pool_shrink resize by n, never below 1 (property)', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 100 }), fc.boolean(), async (concurrency, n, grow) => {
      const sizes: number[] = [];
      const ctx = context({ concurrency, resize: (size) => sizes.push(size) });
      const reply = await call(grow ? 'pool_grow' : 'pool_shrink', { n }, ctx);
      assert.deepEqual(reply, { ok: grow ? 'pool will grow' : 'pool will shrink' });
      assert.deepEqual(sizes, [grow ? concurrency + n : Math.max(1, concurrency - n)]);
    }));
    await assert.rejects(async () => call('pool_grow', { n: 0 }, context({ concurrency: 1, resize: () => undefined })), /n must be a whole number/);
  });

  it('revoke and rate_limit reach the target', async () => {
    const revoked: unknown[] = [];
    const limits: unknown[] = [];
    const ctx = context({
      revoke: (ids, options) => revoked.push([ids, options]),
      setRateLimit: (task, rate) => {
        if (rate === 'fast') throw new Error('"fast" is not a rate');
        limits.push([task, rate]);
      },
    });
    assert.deepEqual(await call('revoke', { task_id: ['a', 'b'] }, ctx), { ok: 'tasks a, b flagged as revoked' });
    assert.deepEqual(await call('revoke', { task_id: 'c', terminate: true, reason: 'r' }, ctx), { ok: 'terminate: c' });
    assert.deepEqual(revoked, [[['a', 'b'], { terminate: false }], [['c'], { terminate: true, reason: 'r' }]]);
    assert.deepEqual(await call('rate_limit', { task_name: 'demo.add', rate_limit: '10/s' }, ctx), { ok: 'new rate limit set successfully' });
    assert.deepEqual(await call('rate_limit', { task_name: 'demo.add', rate_limit: '0' }, ctx), { ok: 'rate limit disabled successfully' });
    assert.deepEqual(await call('rate_limit', { task_name: 'demo.add', rate_limit: 'fast' }, ctx), { error: 'Invalid rate limit string: "fast" is not a rate' });
    assert.deepEqual(limits, [['demo.add', '10/s'], ['demo.add', null]]);
  });
});

describe('ManagedChannel.cancel', () => {
  it('stops one consumer now and on later channels; the others stay', async () => {
    const fake = new FakeBroker();
    const managed = await ManagedChannel.open(fake.broker, { name: 'test channel', logger: createSilentLogger() });
    await managed.consume('qa', () => undefined);
    await managed.consume('qb', () => undefined);
    const first = fake.last;
    await managed.cancel('qa');
    assert.equal(first.cancelled.length, 1);
    assert.equal(first.consumers.size, 1);
    assert.equal(managed.consuming, true);
    await first.close();
    await waitFor(() => fake.channels.length === 2 && managed.consuming, 'a new subscribed channel');
    assert.equal(fake.last.consumers.size, 1, 'only qb is consumed again');
    await managed.close();
  });
});
