/**
 * Priority queues: QUEUE_MAX_PRIORITY's parser and its bad entries, a task's `maxPriority`,
 * how the catalogue merges the two (and refuses conflicts and quorum queues), the
 * `x-max-priority` argument every declarer sends, and the mismatch error's advice.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { taskQueueArguments, taskQueueTopology } from '../../shared/src/broker/topology.js';
import { QueueMismatchError } from '../../shared/src/broker/apply-topology.js';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { defineTask } from '../../shared/src/app/define-task.js';
import { ConfigError } from '../../shared/src/core/errors.js';
import { loadCommonConfig } from '../../shared/src/config/load.js';
import { parseQueueMaxPriority, parseQueueTypes } from '../../shared/src/config/parse.js';
import { queueInfo } from '../../worker/src/control/replies.js';

const noop = (): null => null;

describe('QUEUE_MAX_PRIORITY', () => {
  it('is absent by default: no queue takes priorities', () => {
    assert.equal(loadCommonConfig({}).queueTypes?.maxPriority, undefined);
  });

  it('reads queue=N pairs into the queue declarations', () => {
    const config = loadCommonConfig({ QUEUE_MAX_PRIORITY: ' email=10 , reports=255,a=1' });
    assert.deepEqual(config.queueTypes?.maxPriority, { email: 10, reports: 255, a: 1 });
  });

  it('reads back every well-formed list it is given', () => {
    const entry = fc.tuple(fc.stringMatching(/^[a-z][a-z0-9._-]{0,20}$/), fc.integer({ min: 1, max: 255 }));
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: ([queue]) => queue, maxLength: 8 }), (entries) => {
        const text = entries.map(([queue, n]) => `${queue}=${n}`).join(',');
        assert.deepEqual(parseQueueMaxPriority('QUEUE_MAX_PRIORITY', text), Object.fromEntries(entries));
      }),
    );
  });

  for (const [value, bad] of [
    ['email', 'email'],
    ['email=0', 'email=0'],
    ['email=256', 'email=256'],
    ['email=ten', 'email=ten'],
    ['email=-1', 'email=-1'],
    ['email=2.5', 'email=2.5'],
    ['ok=3,email=', 'email='],
    ['*=10', '*'],
    ['amq.x=5', 'amq.x'],
  ] as const) {
    it(`refuses ${JSON.stringify(value)}, naming the variable and the bad entry`, () => {
      assert.throws(
        () => loadCommonConfig({ QUEUE_MAX_PRIORITY: value }),
        (err: unknown) => err instanceof ConfigError && err.variable === 'QUEUE_MAX_PRIORITY' && err.message.includes(`"${bad}`),
      );
    });
  }

  it('refuses a queue named twice', () => {
    assert.throws(() => loadCommonConfig({ QUEUE_MAX_PRIORITY: 'a=1,a=2' }), /QUEUE_MAX_PRIORITY names "a" twice/);
  });

  it('refuses a priority on a queue QUEUE_TYPES makes quorum, by name or by *', () => {
    assert.throws(() => loadCommonConfig({ QUEUE_TYPES: 'email=quorum', QUEUE_MAX_PRIORITY: 'email=5' }), /QUEUE_MAX_PRIORITY names "email".*quorum/);
    assert.throws(() => loadCommonConfig({ QUEUE_TYPES: '*=quorum', QUEUE_MAX_PRIORITY: 'email=5' }), /quorum/);
    assert.deepEqual(loadCommonConfig({ QUEUE_TYPES: '*=quorum,email=classic', QUEUE_MAX_PRIORITY: 'email=5' }).queueTypes?.maxPriority, { email: 5 });
  });
});

describe('a task\'s maxPriority', () => {
  it('is checked when the task is defined', () => {
    for (const bad of [0, 256, 2.5, Number.NaN]) {
      assert.throws(() => defineTask({ name: 'p.bad', maxPriority: bad, run: noop }), /p\.bad.*maxPriority must be a whole number from 1 to 255/);
    }
    assert.throws(() => defineTask({ name: 'p.quorum', queueType: 'quorum', maxPriority: 5, run: noop }), /p\.quorum.*classic queue/);
    assert.equal(defineTask({ name: 'p.ok', maxPriority: 10, run: noop }).maxPriority, 10);
  });

  it('applies to the task\'s queue; QUEUE_MAX_PRIORITY\'s entry wins', () => {
    const catalogue = new Catalogue([
      defineTask({ name: 'p.a', queue: 'pq', maxPriority: 5, run: noop }),
      defineTask({ name: 'p.b', queue: 'pq', maxPriority: 5, run: noop }),
      defineTask({ name: 'p.c', queue: 'other', run: noop }),
    ]);
    assert.deepEqual(catalogue.queueTypes().maxPriority, { pq: 5 });
    const configured = loadCommonConfig({ QUEUE_MAX_PRIORITY: 'pq=9,extra=2' }).queueTypes;
    assert.deepEqual(catalogue.queueTypes(configured).maxPriority, { pq: 9, extra: 2 });
    assert.equal(new Catalogue([defineTask({ name: 'p.none', run: noop })]).queueTypes().maxPriority, undefined);
  });

  it('refuses two values for one queue at app load, naming both tasks', () => {
    assert.throws(
      () => new Catalogue([defineTask({ name: 'p.one', queue: 'pq', maxPriority: 5, run: noop }), defineTask({ name: 'p.two', queue: 'pq', maxPriority: 7, run: noop })]),
      /Queue pq is given two maxPriority values: 5 by task p\.one, 7 by task p\.two/,
    );
  });

  it('refuses a priority from one task on a queue another task makes quorum, naming both', () => {
    assert.throws(
      () => new Catalogue([defineTask({ name: 'p.q', queue: 'pq', queueType: 'quorum', run: noop }), defineTask({ name: 'p.p', queue: 'pq', maxPriority: 3, run: noop })]),
      /Queue pq is made quorum by task p\.q and given maxPriority 3 by task p\.p/,
    );
  });

  it('refuses a task priority on a queue QUEUE_TYPES makes quorum, naming the task', () => {
    const catalogue = new Catalogue([defineTask({ name: 'p.q', queue: 'pq', maxPriority: 5, run: noop })]);
    assert.throws(() => catalogue.queueTypes(parseQueueTypes('QUEUE_TYPES', 'pq=quorum')), /Queue pq is quorum .*task p\.q's maxPriority/);
  });
});

describe('x-max-priority in the declaration', () => {
  const types = { ...parseQueueTypes('QUEUE_TYPES', undefined), maxPriority: { pq: 10 } };

  it('is sent for priority queues only, the same by every declarer', () => {
    assert.deepEqual(taskQueueArguments('pq', types), { 'x-max-priority': 10 });
    assert.deepEqual(taskQueueArguments('plain', types), {});
    const [queue] = taskQueueTopology('pq', types).queues;
    assert.deepEqual(queue?.arguments, { 'x-max-priority': 10 });
  });

  it('is reported to Celery\'s active_queues as max_priority and a queue argument', () => {
    const info = queueInfo('pq', types);
    assert.equal(info.max_priority, 10);
    assert.deepEqual(info.queue_arguments, { 'x-max-priority': 10 });
    assert.equal(queueInfo('plain', types).max_priority, null);
  });

  it('a mismatch names the priority setting as what differs', () => {
    const cause = Object.assign(
      new Error("Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue 'pq' in vhost '/': received '5' but current is '10'\""),
      { code: 406 },
    );
    const err = new QueueMismatchError('pq', { 'x-max-priority': 5 }, cause);
    assert.deepEqual(err.existing, { 'x-max-priority': '10' });
    assert.match(err.message, /priority setting differs/);
    assert.match(err.message, /QUEUE_MAX_PRIORITY/);
    const absent = new QueueMismatchError(
      'pq',
      {},
      Object.assign(new Error("PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue 'pq' in vhost '/': received none but current is the value '10' of type 'byte'"), { code: 406 }),
    );
    assert.match(absent.message, /priority setting differs/);
  });
});
