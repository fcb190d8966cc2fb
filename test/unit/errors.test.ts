import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CelerityError,
  ConfigError,
  ERROR_STATUS,
  PermanentError,
  RetryableError,
  coerceError,
  isPermanentError,
  type ErrorCode,
} from '../../shared/src/core/errors.js';

describe('CelerityError', () => {
  it('maps each code to its HTTP status', () => {
    const expected: [ErrorCode, number][] = [
      ['MALFORMED_JSON', 400],
      ['INVALID_ARGUMENTS', 400],
      ['INVALID_WAIT', 400],
      ['UNKNOWN_TASK', 404],
      ['TASK_NOT_FOUND', 404],
      ['QUEUE_UNAVAILABLE', 503],
      ['PAYLOAD_TOO_LARGE', 413],
      ['UNSUPPORTED_MEDIA_TYPE', 415],
      ['INTERNAL', 500],
      ['BROKER_UNAVAILABLE', 503],
      ['DATABASE_UNAVAILABLE', 503],
      ['SHUTTING_DOWN', 503],
    ];
    for (const [code, status] of expected) {
      const err = new CelerityError(code, 'x');
      assert.equal(err.status, status, code);
      assert.equal(err.code, code);
    }
    for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
      const status = new CelerityError(code, 'x').status;
      assert.ok(status >= 400 && status <= 599, `${code} → ${status}`);
    }
  });

  it('is an Error with name, message, cause and retryAfterS', () => {
    const cause = new Error('ECONNREFUSED');
    const err = new CelerityError('BROKER_UNAVAILABLE', 'Broker unavailable', { cause, retryAfterS: 2 });
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'CelerityError');
    assert.equal(err.message, 'Broker unavailable');
    assert.equal(err.cause, cause);
    assert.equal(err.retryAfterS, 2);
  });

  it('has no cause or retryAfterS unless given', () => {
    const err = new CelerityError('INTERNAL', 'oops');
    assert.equal(Object.hasOwn(err, 'cause'), false);
    assert.equal(err.retryAfterS, undefined);
  });

  it('keeps a cause that is not an Error', () => {
    const err = new CelerityError('INTERNAL', 'oops', { cause: { code: 42 } });
    assert.deepEqual(err.cause, { code: 42 });
  });
});

describe('ConfigError', () => {
  it('names the variable at the start of its message', () => {
    const err = new ConfigError('GATEWAY_PORT', 'must be a number');
    assert.equal(err.message, 'GATEWAY_PORT must be a number');
    assert.equal(err.variable, 'GATEWAY_PORT');
    assert.equal(err.name, 'ConfigError');
    assert.ok(err instanceof Error);
  });
});

describe('coerceError', () => {
  it('returns an Error unchanged', () => {
    const err = new TypeError('bad');
    assert.equal(coerceError(err), err);
    const permanent = new PermanentError('never');
    assert.equal(coerceError(permanent), permanent);
  });

  it('turns a string into an Error with that message', () => {
    const err = coerceError('plain string');
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'plain string');
  });

  it('turns an object into an Error that shows it as JSON and keeps it as cause', () => {
    const thrown = { code: 7, reason: 'nope' };
    const err = coerceError(thrown);
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'Non-error thrown: {"code":7,"reason":"nope"}');
    assert.equal(err.cause, thrown);
  });

  it('handles values JSON cannot show', () => {
    assert.equal(coerceError(undefined).message, 'Non-error thrown: undefined');
    assert.equal(coerceError(null).message, 'Non-error thrown: null');
    assert.equal(coerceError(42).message, 'Non-error thrown: 42');
    assert.equal(coerceError(10n).message, 'Non-error thrown: 10');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const err = coerceError(circular);
    assert.equal(err.message, 'Non-error thrown: [object Object]');
    assert.equal(err.cause, circular);
  });
});

describe('isPermanentError', () => {
  it('recognises PermanentError', () => {
    assert.equal(isPermanentError(new PermanentError('x')), true);
    assert.equal(new PermanentError('x').name, 'PermanentError');
  });

  it('recognises an Error named PermanentError that is not an instance (another realm or thread)', () => {
    const err = new Error('x');
    err.name = 'PermanentError';
    assert.equal(isPermanentError(err), true);
  });

  it('recognises a plain object named PermanentError (a deserialised error from another process)', () => {
    assert.equal(isPermanentError({ name: 'PermanentError', message: 'invalid input' }), true);
  });

  it('refuses other errors and values', () => {
    assert.equal(isPermanentError(new Error('x')), false);
    assert.equal(isPermanentError(new RetryableError('x')), false);
    assert.equal(isPermanentError('PermanentError'), false);
    assert.equal(isPermanentError(undefined), false);
    assert.equal(isPermanentError({ name: 'Error' }), false);
  });
});
