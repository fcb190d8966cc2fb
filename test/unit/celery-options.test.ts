import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveCeleryOptions } from '../../shared/src/submit/celery-options.js';
import { CelerityError } from '../../shared/src/core/errors.js';
import { MAX_MESSAGE_TTL_MS, expirationFor } from '../../shared/src/broker/protocol.js';

describe('expires beyond the broker per-message TTL limit', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');

  it('the gateway refuses an expires date further than RabbitMQ takes', () => {
    const sixtyDays = new Date(now + 60 * 86_400_000).toISOString();
    assert.throws(
      () => resolveCeleryOptions({ expires: sixtyDays }, now),
      (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_OPTIONS' && /49\.7 days/.test(err.message),
    );
    assert.equal(resolveCeleryOptions({ expires: 40 * 86_400 }, now)?.expires, new Date(now + 40 * 86_400_000).toISOString());
  });

  it('the expiration property is never sent past the limit', () => {
    assert.equal(expirationFor(new Date(now + MAX_MESSAGE_TTL_MS + 1000).toISOString(), now), undefined);
    assert.equal(expirationFor(new Date(now + 1000).toISOString(), now), '1000');
  });
});
