import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PUBLISHED_AT_HEADER, queueWaitSeconds } from '../../shared/src/broker/queue-wait.js';
import { decodeEvent, eventRoutingKey } from '../../shared/src/broker/events.js';

describe('queue wait', () => {
  it('uses the publish stamp, then eta, else reports nothing', () => {
    assert.deepEqual(queueWaitSeconds({ [PUBLISHED_AT_HEADER]: 1_000 }, null, 3_500), { seconds: 2.5, source: 'published-at' });
    assert.deepEqual(queueWaitSeconds({}, '1970-01-01T00:00:01.000Z', 1_250), { seconds: 0.25, source: 'eta' });
    assert.deepEqual(queueWaitSeconds(undefined, null, 5_000), { seconds: undefined, source: 'none' });
    assert.deepEqual(queueWaitSeconds({ [PUBLISHED_AT_HEADER]: 'soon' }, 'not a date', 5_000), { seconds: undefined, source: 'none' });
  });

  it('clamps clock skew to zero', () => {
    assert.equal(queueWaitSeconds({ [PUBLISHED_AT_HEADER]: 9_000 }, null, 5_000).seconds, 0);
  });
});

describe('events', () => {
  it('routing keys follow Celery (dashes to dots)', () => {
    assert.equal(eventRoutingKey('worker-heartbeat'), 'worker.heartbeat');
    assert.equal(eventRoutingKey('task-succeeded'), 'task.succeeded');
  });

  it('decodes only event-shaped JSON objects', () => {
    assert.equal(decodeEvent(Buffer.from('nope')), undefined);
    assert.equal(decodeEvent(Buffer.from('[1]')), undefined);
    assert.equal(decodeEvent(Buffer.from('{"type":"x","hostname":"h"}')), undefined);
    assert.deepEqual(decodeEvent(Buffer.from('{"type":"worker-online","hostname":"h","timestamp":1.5}')), {
      type: 'worker-online',
      hostname: 'h',
      timestamp: 1.5,
    });
  });
});
