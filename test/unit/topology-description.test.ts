/**
 * The topology as data: what `describeTopology` and its parts say for classic and quorum
 * queues, dead letters and delay levels, and how the one applier declares a description.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Channel } from 'amqplib';
import { DELAY_LEVELS_MS } from '../../shared/src/broker/delay.js';
import { EVENT_EXCHANGE } from '../../shared/src/broker/events.js';
import {
  QUORUM_DELIVERY_LIMIT,
  SERVER_NAMED,
  deadLetterTopology,
  delayTopology,
  describeTopology,
  eventMonitorTopology,
  taskQueueTopology,
} from '../../shared/src/broker/topology.js';
import { QueueMismatchError, applyTopology } from '../../shared/src/broker/apply-topology.js';
import { parseQueueTypes } from '../../shared/src/config/parse.js';

const QUORUM_EMAIL = parseQueueTypes('QUEUE_TYPES', 'email=quorum');

describe('topology description', () => {
  it('a classic task queue is a direct exchange, a queue without arguments and a binding, as Celery declares it', () => {
    const topology = taskQueueTopology('demo');
    assert.deepEqual(topology.exchanges, [{ name: 'demo', type: 'direct', durable: true, autoDelete: false }]);
    assert.deepEqual(topology.queues, [{ name: 'demo', kind: 'task', durable: true, autoDelete: false, exclusive: false, arguments: {}, when: 'connect' }]);
    assert.deepEqual(topology.bindings, [{ queue: 'demo', exchange: 'demo', routingKey: 'demo', arguments: {} }]);
  });

  it('a quorum task queue carries the delivery limit and dead-letters into <queue>.dead, declared before it', () => {
    const topology = taskQueueTopology('email', QUORUM_EMAIL);
    assert.deepEqual(
      topology.queues.map((q) => q.name),
      ['email.dead', 'email'],
    );
    assert.deepEqual(topology.queues[1]?.arguments, {
      'x-queue-type': 'quorum',
      'x-delivery-limit': QUORUM_DELIVERY_LIMIT,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'email.dead',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    assert.deepEqual(topology.queues[0]?.arguments, { 'x-queue-type': 'quorum' });
    assert.equal(topology.queues[0]?.kind, 'dead-letter');
  });

  it('a dead-letter queue has its task queue type and nothing else', () => {
    assert.deepEqual(deadLetterTopology('demo').queues[0]?.arguments, {});
    assert.deepEqual(deadLetterTopology('email', QUORUM_EMAIL).queues[0]?.arguments, { 'x-queue-type': 'quorum' });
    assert.equal(deadLetterTopology('demo').queues[0]?.when, 'first-use');
  });

  it('a delay level is a queue with that TTL dead-lettering to the default exchange, bound by header', () => {
    const topology = delayTopology(400);
    assert.deepEqual(topology.exchanges, [{ name: 'celerity.delay', type: 'headers', durable: true, autoDelete: false }]);
    assert.deepEqual(topology.queues[0]?.arguments, { 'x-message-ttl': 400, 'x-dead-letter-exchange': '' });
    assert.deepEqual(topology.bindings, [{ queue: 'celerity.delay.400', exchange: 'celerity.delay', routingKey: '', arguments: { 'x-match': 'all', 'celerity-delay': '400' } }]);
  });

  it('describes every queue, exchange and binding once, for every delay level', () => {
    const topology = describeTopology({ queues: ['email', 'demo', 'demo'], queueTypes: QUORUM_EMAIL });
    const names = topology.queues.map((q) => q.name);
    const named = names.filter((name) => name !== SERVER_NAMED);
    assert.equal(new Set(named).size, named.length, 'no queue twice');
    // The broker names two queues: the event monitor's and the task feed's, one of each.
    assert.deepEqual(topology.queues.filter((q) => q.name === SERVER_NAMED).map((q) => q.kind), ['event-monitor', 'task-feed']);
    for (const name of ['demo', 'demo.dead', 'email', 'email.dead', 'celerity.reply.<uuid>', 'celerity.revoke.<uuid>', SERVER_NAMED]) assert.ok(names.includes(name), name);
    assert.equal(topology.queues.filter((q) => q.kind === 'delay').length, DELAY_LEVELS_MS.length);
    assert.deepEqual(topology.exchanges.map((e) => e.name).sort(), ['celerity.delay', 'celerity.revoke', 'celerity.task-events', EVENT_EXCHANGE, 'demo', 'email', 'celery.pidbox', 'reply.celery.pidbox'].sort());
    for (const name of ['<worker name>.celery.pidbox', '<uuid>.reply.celery.pidbox']) assert.ok(names.includes(name), name);
    const monitor = topology.bindings.filter((b) => b.exchange === EVENT_EXCHANGE).map((b) => b.routingKey);
    assert.deepEqual(monitor, ['worker.#', 'task.#']);
    assert.deepEqual(describeTopology({ queues: ['x'], delayLevelsMs: [] }).queues.filter((q) => q.kind === 'delay'), []);
  });

  it('is plain data: JSON round-trips it unchanged', () => {
    const topology = describeTopology({ queues: ['demo'], queueTypes: QUORUM_EMAIL });
    assert.deepEqual(JSON.parse(JSON.stringify(topology)), topology);
  });
});

/** A channel recording what it is asked to declare; `refuse` makes assertQueue fail with that reply code. */
function recordingChannel(refuse?: { queue: string; code: number }): { channel: Channel; calls: string[] } {
  const calls: string[] = [];
  const channel = {
    assertExchange: (name: string, type: string) => {
      calls.push(`exchange ${name} ${type}`);
      return Promise.resolve({ exchange: name });
    },
    assertQueue: (name: string) => {
      if (refuse?.queue === name) return Promise.reject(Object.assign(new Error(`Operation failed: QueueDeclare; ${refuse.code}`), { code: refuse.code }));
      const queue = name === '' ? 'amq.gen-1' : name;
      calls.push(`queue ${queue}`);
      return Promise.resolve({ queue, messageCount: 0, consumerCount: 0 });
    },
    bindQueue: (queue: string, exchange: string, key: string) => {
      calls.push(`bind ${queue} ${exchange} ${key}`);
      return Promise.resolve({});
    },
  };
  return { channel: channel as unknown as Channel, calls };
}

describe('applyTopology', () => {
  it('declares exchanges, then queues, then bindings', async () => {
    const { channel, calls } = recordingChannel();
    assert.deepEqual(await applyTopology(channel, taskQueueTopology('email', QUORUM_EMAIL)), ['email.dead', 'email']);
    assert.deepEqual(calls, ['exchange email direct', 'queue email.dead', 'queue email', 'bind email email email']);
  });

  it('binds a server-named queue under the name the broker gave it', async () => {
    const { channel, calls } = recordingChannel();
    assert.deepEqual(await applyTopology(channel, eventMonitorTopology()), ['amq.gen-1']);
    assert.deepEqual(calls.slice(-2), ['bind amq.gen-1 celeryev worker.#', 'bind amq.gen-1 celeryev task.#']);
  });

  it('a 406 on a task or dead-letter queue is a QueueMismatchError; elsewhere the broker error is passed on', async () => {
    await assert.rejects(applyTopology(recordingChannel({ queue: 'demo', code: 406 }).channel, taskQueueTopology('demo')), QueueMismatchError);
    await assert.rejects(applyTopology(recordingChannel({ queue: 'demo.dead', code: 406 }).channel, deadLetterTopology('demo')), QueueMismatchError);
    await assert.rejects(applyTopology(recordingChannel({ queue: 'celerity.delay.100', code: 406 }).channel, delayTopology(100)), (err: unknown) => !(err instanceof QueueMismatchError) && (err as { code?: unknown }).code === 406);
    await assert.rejects(applyTopology(recordingChannel({ queue: 'demo', code: 404 }).channel, taskQueueTopology('demo')), (err: unknown) => (err as { code?: unknown }).code === 404);
  });
});
