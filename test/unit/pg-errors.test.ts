import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isRetryablePgError } from '../../shared/src/store/pg-errors.js';

function pgError(code: string): Error {
  return Object.assign(new Error(`pg ${code}`), { code });
}

describe('PostgreSQL error classification', () => {
  it('retries transient errors', () => {
    for (const code of ['40001', '40P01', '57P01', '57P03', '08006', '08001', '53300', '55P03', '57014', 'ECONNREFUSED']) {
      assert.equal(isRetryablePgError(pgError(code)), true, code);
    }
    assert.equal(isRetryablePgError(new Error('Connection terminated unexpectedly')), true);
  });

  it('a missing table or schema (never migrated, or dropped) is the store being unusable, retried, never a refused value', () => {
    for (const code of ['42P01', '3F000']) assert.equal(isRetryablePgError(pgError(code)), true, code);
  });

  it('fails fast on data, constraint, schema and unknown errors', () => {
    for (const code of ['22P05', '22P02', '22021', '23505', '23514', '42601', '42703', '54001', '53100', 'XX000', 'ZZ999']) {
      assert.equal(isRetryablePgError(pgError(code)), false, code);
    }
    assert.equal(isRetryablePgError(new Error('something else')), false);
    assert.equal(isRetryablePgError('not an error'), false);
  });
});
