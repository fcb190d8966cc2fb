import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLASSIC_QUEUES,
  QUORUM_DELIVERY_LIMIT,
  deadLetterQueueArguments,
  queueTypeOf,
  taskQueueArguments,
} from '../../shared/src/broker/topology.js';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { defineTask } from '../../shared/src/app/define-task.js';
import { ConfigError } from '../../shared/src/core/errors.js';
import { QueueMismatchError } from '../../shared/src/broker/apply-topology.js';
import { Slots } from '../../shared/src/core/slots.js';
import { loadCommonConfig } from '../../shared/src/config/load.js';
import { parseQueueTypes } from '../../shared/src/config/parse.js';

describe('QUEUE_TYPES', () => {
  it('defaults to every queue classic', () => {
    const config = loadCommonConfig({});
    assert.deepEqual(config.queueTypes, { default: 'classic', perQueue: {} });
    assert.equal(queueTypeOf(CLASSIC_QUEUES, 'anything'), 'classic');
  });

  it('reads queue=type pairs with * for every other queue', () => {
    const types = parseQueueTypes('QUEUE_TYPES', ' email=quorum , *=classic,reports=classic');
    assert.equal(queueTypeOf(types, 'email'), 'quorum');
    assert.equal(queueTypeOf(types, 'reports'), 'classic');
    assert.equal(queueTypeOf(types, 'demo'), 'classic');
    const allQuorum = parseQueueTypes('QUEUE_TYPES', '*=quorum,legacy=classic');
    assert.equal(queueTypeOf(allQuorum, 'demo'), 'quorum');
    assert.equal(queueTypeOf(allQuorum, 'legacy'), 'classic');
  });

  for (const [value, why] of [
    ['email', 'no type'],
    ['email=stream', 'an unsupported type'],
    ['email=Quorum', 'a type in the wrong case'],
    ['amq.x=quorum', 'a reserved queue name'],
    ['=quorum', 'an empty queue name'],
    ['a=quorum,a=classic', 'a queue named twice'],
    ['*=quorum,*=classic', '* twice'],
  ] as const) {
    it(`refuses ${JSON.stringify(value)} (${why}) with an error naming the variable`, () => {
      assert.throws(
        () => loadCommonConfig({ QUEUE_TYPES: value }),
        (err: unknown) => err instanceof ConfigError && err.variable === 'QUEUE_TYPES' && err.message.startsWith('QUEUE_TYPES '),
      );
    });
  }
});

describe('quorum queue arguments', () => {
  const types = parseQueueTypes('QUEUE_TYPES', 'email=quorum');

  it('declares classic queues with no arguments, as Celery does', () => {
    assert.deepEqual(taskQueueArguments('demo', types), {});
    assert.deepEqual(deadLetterQueueArguments('demo', types), {});
  });

  it('declares quorum queues with the delivery limit and at-least-once dead-lettering into <queue>.dead', () => {
    assert.deepEqual(taskQueueArguments('email', types), {
      'x-queue-type': 'quorum',
      'x-delivery-limit': QUORUM_DELIVERY_LIMIT,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'email.dead',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    assert.deepEqual(deadLetterQueueArguments('email', types), { 'x-queue-type': 'quorum' });
  });

  it('keeps the broker limit above the worker default, so the worker records FAILURE first', () => {
    assert.ok(QUORUM_DELIVERY_LIMIT > 5);
  });
});

describe('QueueMismatchError', () => {
  it('names the queue, what Celerity declares and what the broker reports', () => {
    const cause = Object.assign(
      new Error(
        "Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'email' in vhost '/': received the value 'classic' of type 'longstr' but current is the value 'quorum' of type 'longstr'\"",
      ),
      { code: 406 },
    );
    const err = new QueueMismatchError('email', {}, cause);
    assert.equal(err.code, 'QUEUE_MISMATCH');
    assert.equal(err.cause, cause);
    assert.deepEqual(err.existing, { 'x-queue-type': 'quorum' });
    assert.match(err.message, /Queue "email"/);
    assert.match(err.message, /Celerity declares \{\}/);
    assert.match(err.message, /existing queue has \{"x-queue-type":"quorum"\}/);
    assert.match(err.message, /QUEUE_TYPES/);
  });

  it('shows an argument the existing queue lacks as absent', () => {
    const cause = new Error("PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received the value 'quorum' of type 'longstr' but current is none");
    assert.deepEqual(new QueueMismatchError('q', { 'x-queue-type': 'quorum' }, cause).existing, { 'x-queue-type': '(absent)' });
  });
});

describe('Slots', () => {
  it('lets at most size holders in, in arrival order', async () => {
    const slots = new Slots(2);
    const order: number[] = [];
    const a = await slots.acquire();
    const b = await slots.acquire();
    const c = slots.acquire().then((release) => (order.push(3), release));
    const d = slots.acquire().then((release) => (order.push(4), release));
    assert.equal(slots.waiting, 2);
    a();
    a(); // a second release of the same slot changes nothing
    (await c)();
    b();
    (await d)();
    assert.deepEqual(order, [3, 4]);
    assert.equal(slots.waiting, 0);
  });

  it('rejects a waiter whose signal aborts, and gives its turn to the next', async () => {
    const slots = new Slots(1);
    const held = await slots.acquire();
    const abort = new AbortController();
    const aborted = slots.acquire(abort.signal);
    const next = slots.acquire();
    abort.abort();
    await assert.rejects(aborted, { code: 'SLOT_ABORTED' });
    held();
    (await next)();
    await assert.rejects(slots.acquire(abort.signal), { code: 'SLOT_ABORTED' });
  });
});

describe('queueType on a task definition', () => {
  const run = (): number => 1;
  it('sets its queue\'s type under QUEUE_TYPES\' default, and an entry of QUEUE_TYPES for that queue wins', () => {
    const catalogue = new Catalogue([
      defineTask({ name: 'a.one', queue: 'qa', queueType: 'quorum', run }),
      defineTask({ name: 'a.two', queue: 'qb', queueType: 'quorum', run }),
      defineTask({ name: 'a.three', queue: 'qc', run }),
    ]);
    const types = catalogue.queueTypes(parseQueueTypes('QUEUE_TYPES', 'qb=classic'));
    assert.equal(queueTypeOf(types, 'qa'), 'quorum');
    assert.equal(queueTypeOf(types, 'qb'), 'classic');
    assert.equal(queueTypeOf(types, 'qc'), 'classic');
    assert.equal(queueTypeOf(catalogue.queueTypes(parseQueueTypes('QUEUE_TYPES', '*=quorum')), 'qc'), 'quorum');
    assert.deepEqual(new Catalogue([]).queueTypes(), CLASSIC_QUEUES);
  });

  it('refuses two tasks that give one queue two types, and an unknown type', () => {
    assert.throws(
      () => new Catalogue([defineTask({ name: 'b.one', queue: 'q', queueType: 'quorum', run }), defineTask({ name: 'b.two', queue: 'q', queueType: 'classic', run })]),
      /Queue q is given two types: quorum by task b\.one, classic by task b\.two/,
    );
    // @ts-expect-error: not a queue type
    assert.throws(() => defineTask({ name: 'b.three', queueType: 'stream', run }), /queueType must be classic or quorum/);
  });
});
