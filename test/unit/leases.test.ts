/**
 * Leases are per delivery: two copies of one task in this process hold two leases; one copy
 * ending never drops the other's, and the renewal names each holder, so the store renews only
 * the rows each delivery holds itself.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { Leases } from '../../worker/src/pipeline/lease.js';
import { waitFor } from './support.js';

describe('Leases', () => {
  it('two deliveries of one task: releasing one keeps renewing the other, by its own holder', async () => {
    const renewals: { id: string; holder: string }[][] = [];
    const leases = new Leases({ renewLeases: (holds) => (renewals.push([...holds]), Promise.resolve()) }, 30, createSilentLogger());
    const first = leases.holderFor('t1', 'w@h:1');
    const second = leases.holderFor('t1', 'w@h:1');
    assert.notEqual(first.holder, second.holder, 'each delivery holds under its own name');
    leases.hold(first);
    leases.hold(second);
    leases.release(first.token);
    assert.ok(leases.has('t1'), 'the other copy still holds the task');
    const seen = renewals.length;
    await waitFor(() => renewals.length > seen, 'a renewal after the release');
    assert.deepEqual(renewals.at(-1), [{ id: 't1', holder: second.holder }]);
    leases.release(second.token);
    assert.ok(!leases.has('t1'));
    leases.release(second.token);
  });
});
