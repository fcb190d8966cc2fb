/**
 * What a task message may claim (shared/src/broker/message-claims.ts), through the decoder the
 * worker uses: every out-of-range attempt count, time limit or numeric header, and every
 * reply_to that is not a reply queue, is a BAD_HEADER; everything in range decodes as before.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_MESSAGE_RETRIES, isReplyQueueName } from '../../shared/src/broker/message-claims.js';
import { MAX_RETRIES_HEADER } from '../../shared/src/core/retry.js';
import {
  MessageFormatError,
  decodeTaskMessage,
  encodeTaskMessage,
  newTaskMessage,
} from '../../shared/src/broker/protocol.js';
import { PUBLISHED_AT_HEADER } from '../../shared/src/broker/queue-wait.js';

/** A valid message's bytes and properties, with `headers` and `replyTo` laid over. */
function decodeWith(headers: Record<string, unknown>, replyTo?: string): ReturnType<typeof decodeTaskMessage> {
  const { content, options } = encodeTaskMessage(newTaskMessage({ id: 't-1', name: 'demo.add', args: [1, 2], kwargs: {} }));
  return decodeTaskMessage(content, { ...options, replyTo, headers: { ...(options.headers as Record<string, unknown>), ...headers } });
}

function badHeader(fn: () => unknown): MessageFormatError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MessageFormatError, String(err));
    assert.equal(err.code, 'BAD_HEADER');
    return err;
  }
  assert.fail('decoded a message it should have refused');
}

describe('message claims', () => {
  it('refuses negative, huge and fractional retries, naming the header; keeps the task id for the record', () => {
    for (const retries of [-1000, -1, 2 ** 31, 1e300, 1.5, Number.NaN, Infinity, '3', true]) {
      const err = badHeader(() => decodeWith({ retries }));
      assert.match(err.message, /retries header/);
      assert.equal(err.partial.id, 't-1');
    }
  });

  it('accepts every whole retries count from 0 to the store\'s limit', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: MAX_MESSAGE_RETRIES }), (retries) => decodeWith({ retries }).retries === retries));
    assert.equal(decodeWith({ retries: null }).retries, 0);
  });

  it('refuses any retries outside that range', () => {
    const outside = fc.oneof(fc.integer({ max: -1 }), fc.double({ noNaN: false }).filter((d) => !Number.isInteger(d) || d < 0 || d > MAX_MESSAGE_RETRIES));
    fc.assert(fc.property(outside, (retries) => badHeader(() => decodeWith({ retries })) instanceof MessageFormatError));
  });

  it('checks time limits and Celerity\'s numeric headers', () => {
    for (const timelimit of [[-1, null], [Number.NaN, null], [null, Infinity], ['30', null], 'x', [1, 2, 3]]) badHeader(() => decodeWith({ timelimit }));
    assert.deepEqual(decodeWith({ timelimit: [30 * 86_400, null] }).timelimit, [30 * 86_400, null], 'past Node\'s longest timer: the worker clamps it');
    assert.deepEqual(decodeWith({ timelimit: [30, 25.5] }).timelimit, [30, 25.5]);
    assert.deepEqual(decodeWith({ timelimit: null }).timelimit, [null, null]);
    for (const value of [-1, 101, 1.5, 2 ** 31]) badHeader(() => decodeWith({ [MAX_RETRIES_HEADER]: value }));
    assert.equal(decodeWith({ [MAX_RETRIES_HEADER]: 100 }).retries, 0);
    for (const value of [-5, 0, 1e300, 'now']) badHeader(() => decodeWith({ [PUBLISHED_AT_HEADER]: value }));
  });

  it('lets reply_to name only reply queues', () => {
    for (const replyTo of ['celerity.reply.gateway.1f0c', 'celerity.reply.x', '0b8a1f62-3c55-3e1e-9b6a-6b1a3f0e2d11', 'amq.rabbitmq.reply-to.g1h', 'amq.gen-abc']) {
      assert.equal(decodeWith({}, replyTo).replyTo, replyTo);
    }
    for (const replyTo of ['billing', 'demo', 'demo.dead', 'celerity.delay', 'celery', 'celerityreply.x']) {
      assert.match(badHeader(() => decodeWith({}, replyTo)).message, /reply_to/);
    }
    fc.assert(fc.property(fc.stringMatching(/^[a-z][a-z0-9._-]{0,30}$/), (name) => isReplyQueueName(name) === (name.startsWith('celerity.reply.') || name.startsWith('amq.gen-'))));
  });
});
