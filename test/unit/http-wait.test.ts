import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CelerityError } from '../../shared/src/core/errors.js';
import { parseWait } from '../../gateway/src/routes/tasks.js';

function assertInvalidWait(value: unknown, maxWaitS = 300): void {
  assert.throws(
    () => parseWait(value, maxWaitS),
    (err: unknown) => {
      assert.ok(err instanceof CelerityError, `expected a CelerityError for ${JSON.stringify(value)}`);
      assert.equal(err.code, 'INVALID_WAIT');
      assert.equal(err.status, 400);
      assert.match(err.message, new RegExp(`from 0 to ${maxWaitS}`));
      return true;
    },
  );
}

describe('parseWait (?wait=)', () => {
  it('is 0 when absent', () => {
    assert.equal(parseWait(undefined, 300), 0);
  });

  it('reads whole and fractional seconds up to the maximum', () => {
    assert.equal(parseWait('0', 300), 0);
    assert.equal(parseWait('1', 300), 1);
    assert.equal(parseWait('2.5', 300), 2.5);
    assert.equal(parseWait('0.001', 300), 0.001);
    assert.equal(parseWait('300', 300), 300);
    assert.equal(parseWait('10', 10), 10);
  });

  for (const value of ['', '-1', 'abc', '1e3', '.5', '5.', ' 5', '0x10', 'Infinity', 'NaN', '1s']) {
    it(`refuses ${JSON.stringify(value)}`, () => {
      assertInvalidWait(value);
    });
  }

  it('refuses more than the maximum', () => {
    assertInvalidWait('301', 300);
    assertInvalidWait('300.5', 300);
    assertInvalidWait('11', 10);
  });

  it('refuses a repeated or structured parameter (?wait=1&wait=2, ?wait[a]=1)', () => {
    assertInvalidWait(['1', '2']);
    assertInvalidWait({ a: '1' });
    assertInvalidWait(5);
  });
});
