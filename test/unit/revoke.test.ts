/**
 * The pure parts of revokes: the worker's bounded, expiring set of revoked ids (its stated
 * guarantees, property-tested), the broadcast notice's wire form (bad input dropped, never
 * thrown), and how a claim refused because of a revocation is read (claimRefusal).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_REVOKED_MAX_ENTRIES, DEFAULT_REVOKED_TTL_MS, RevokedSet } from '../../worker/src/revoke/revoked-set.js';
import { decodeRevokeNotice, encodeRevokeNotice } from '../../shared/src/broker/revoke-broadcast.js';
import { claimRefusal } from '../../worker/src/pipeline/admit.js';
import type { TaskRecord } from '../../shared/src/core/task.js';

/** A run of revokes: each an id from a small pool (so repeats happen) and a step forward in time. */
const revokes = fc.array(fc.record({ id: fc.integer({ min: 0, max: 30 }).map(String), stepMs: fc.integer({ min: 0, max: 400 }) }), { maxLength: 200 });

describe('RevokedSet', () => {
  it('defaults to Celery\'s worker bounds: 50 000 ids for 3 hours', () => {
    const set = new RevokedSet();
    assert.equal(set.maxEntries, DEFAULT_REVOKED_MAX_ENTRIES);
    assert.equal(DEFAULT_REVOKED_MAX_ENTRIES, 50_000);
    assert.equal(set.ttlMs, DEFAULT_REVOKED_TTL_MS);
    assert.equal(DEFAULT_REVOKED_TTL_MS, 3 * 3_600_000);
    assert.throws(() => new RevokedSet({ maxEntries: 0 }), RangeError);
    assert.throws(() => new RevokedSet({ ttlMs: 0 }), RangeError);
  });

  it('never holds more than maxEntries, and holds exactly the newest distinct ids revoked within the ttl', () => {
    fc.assert(
      fc.property(revokes, fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 2_000 }), (run, maxEntries, ttlMs) => {
        const set = new RevokedSet({ maxEntries, ttlMs });
        let now = 0;
        const last = new Map<string, number>(); // id → time of its last revoke, in revoke order
        for (const { id, stepMs } of run) {
          now += stepMs;
          set.add(id, now);
          last.delete(id);
          last.set(id, now);
          assert.ok(set.size <= maxEntries);
        }
        // The model: of the ids revoked within the ttl, the newest maxEntries.
        const live = [...last].filter(([, at]) => at + ttlMs > now).map(([id]) => id);
        const expected = new Set(live.slice(Math.max(0, live.length - maxEntries)));
        for (const id of last.keys()) assert.equal(set.has(id, now), expected.has(id), `id ${id}`);
      }),
    );
  });

  it('an id is forgotten once its ttl has passed, and a repeat revoke renews it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }), (ttlMs, renewAfter) => {
        const set = new RevokedSet({ ttlMs });
        set.add('a', 0);
        assert.equal(set.has('a', ttlMs - 1), true);
        assert.equal(set.has('a', ttlMs), false);
        set.add('a', renewAfter);
        assert.equal(set.has('a', renewAfter + ttlMs - 1), true);
      }),
    );
  });
});

describe('revoke notices', () => {
  it('round-trip, and a message that is not a notice decodes to undefined', () => {
    const notice = { ids: ['a', 'b'], terminate: true, reason: 'why', origin: 'celerity@h:1' };
    assert.deepEqual(decodeRevokeNotice(encodeRevokeNotice(notice)), notice);
    assert.deepEqual(decodeRevokeNotice(Buffer.from('{"ids":["x"]}')), { ids: ['x'], terminate: false });
    for (const bad of ['not json', 'null', '[]', '{"ids":[]}', '{"ids":"x"}', '{"ids":[1]}', '{"ids":[""]}', JSON.stringify({ ids: ['x'.repeat(256)] })]) {
      assert.equal(decodeRevokeNotice(Buffer.from(bad)), undefined, bad);
    }
  });

  it('any bytes at all decode to a notice or to undefined, never a throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const decoded = decodeRevokeNotice(Buffer.from(bytes));
      assert.ok(decoded === undefined || (decoded.ids.length > 0 && typeof decoded.terminate === 'boolean'));
    }));
  });
});

describe('claimRefusal with a revocation', () => {
  const row = (state: TaskRecord['state'], extra: Partial<TaskRecord> = {}): TaskRecord =>
    ({ id: 't', name: 'demo.add', queue: 'q', state, args: [], kwargs: {}, retries: 0, createdAt: new Date(0), ...extra });
  const message = { name: 'demo.add', retries: 0 };
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('a REVOKED row, a waiting row and no row end REVOKED; another final state, another name or a live lease elsewhere win', () => {
    assert.deepEqual(claimRefusal(message, row('REVOKED'), now, true), { kind: 'revoked', stored: row('REVOKED') });
    assert.deepEqual(claimRefusal(message, undefined, now, true), { kind: 'revoked', stored: undefined });
    assert.deepEqual(claimRefusal(message, row('RETRY'), now, true), { kind: 'revoked', stored: undefined });
    assert.equal(claimRefusal(message, row('SUCCESS'), now, true).kind, 'finished');
    assert.equal(claimRefusal(message, row('REVOKED', { name: 'demo.other' }), now, true).kind, 'name-mismatch');
    const leased = row('STARTED', { leaseExpiresAt: new Date(now + 5_000), leaseHolder: 'other' });
    assert.equal(claimRefusal(message, leased, now, true).kind, 'running');
    // Without a revocation a REVOKED row (an expired task) is answered as finished, as before.
    assert.equal(claimRefusal(message, row('REVOKED'), now, false).kind, 'finished');
  });
});
