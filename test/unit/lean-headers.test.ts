/**
 * MESSAGE_HEADERS=lean: a lean task message decodes to the same task as the full Celery one,
 * and carries none of the headers only Python reads.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeTaskMessage, encodeTaskMessage, newTaskMessage, type IncomingProperties, type TaskMessage } from '../../shared/src/broker/protocol.js';

/** What amqplib hands a consumer: the publish options become the delivery's properties. */
function asDelivered(encoded: ReturnType<typeof encodeTaskMessage>): [Buffer, IncomingProperties] {
  const o = encoded.options;
  return [encoded.content, { contentType: o.contentType, contentEncoding: o.contentEncoding, correlationId: o.correlationId, replyTo: o.replyTo, priority: o.priority, headers: o.headers as Record<string, unknown> }];
}

describe('MESSAGE_HEADERS=lean', () => {
  const text = fc.stringMatching(/^[a-z][a-z0-9._-]{0,19}$/);
  const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(arb, { nil: null });
  const message: fc.Arbitrary<TaskMessage> = fc
    .record({
      id: fc.uuid(),
      name: text,
      args: fc.array(fc.oneof(fc.integer(), text), { maxLength: 3 }),
      kwargs: fc.dictionary(text, fc.integer(), { maxKeys: 3 }),
      retries: fc.nat({ max: 5 }),
      sameRoot: fc.boolean(),
      rootId: fc.uuid(),
      parentId: maybe(fc.uuid()),
      group: maybe(fc.uuid()),
      groupIndex: fc.option(fc.nat({ max: 9 }), { nil: undefined }),
      eta: maybe(fc.constant('2030-01-01T00:00:00.000Z')),
      expires: maybe(fc.constant('2031-01-01T00:00:00.000Z')),
      timelimit: fc.tuple(maybe(fc.nat({ max: 100 })), maybe(fc.nat({ max: 100 }))),
      replyTo: maybe(text.map((s) => `celerity.reply.${s}`)),
      ignoreResult: fc.boolean(),
      priority: maybe(fc.nat({ max: 9 })),
    })
    .map(({ sameRoot, groupIndex, ...m }) => ({
      ...m,
      rootId: sameRoot ? m.id : m.rootId,
      origin: null,
      ...(groupIndex !== undefined ? { groupIndex } : {}),
    }));

  it('a lean message decodes to what the full Celery message decodes to (origin aside, which lean leaves out)', () => {
    fc.assert(
      fc.property(message, (m) => {
        const lean = decodeTaskMessage(...asDelivered(encodeTaskMessage(m, 'lean')));
        const full = decodeTaskMessage(...asDelivered(encodeTaskMessage(m, 'celery')));
        assert.deepEqual(lean, full);
      }),
    );
  });

  it('carries task and id, no null header and none of the headers only Python reads', () => {
    fc.assert(
      fc.property(message, (m) => {
        const headers = encodeTaskMessage(m, 'lean').options.headers as Record<string, unknown>;
        assert.equal(headers.task, m.name);
        assert.equal(headers.id, m.id);
        for (const [name, value] of Object.entries(headers)) assert.notEqual(value, null, `${name} is null`);
        for (const name of ['lang', 'shadow', 'argsrepr', 'kwargsrepr', 'origin']) assert.ok(!(name in headers), `${name} is sent`);
      }),
    );
  });

  it('is smaller than the Celery message of the same task', () => {
    const m = newTaskMessage({ id: 'c0ffee00-0000-4000-8000-000000000002', name: 'demo.add', args: [1, 2], kwargs: {} });
    const lean = Object.keys(encodeTaskMessage(m, 'lean').options.headers as object);
    const full = Object.keys(encodeTaskMessage(m, 'celery').options.headers as object);
    assert.deepEqual(lean, ['task', 'id']);
    assert.ok(full.length >= 16);
  });
});
