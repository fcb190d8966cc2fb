/** The per-key rate counted in tasks (gateway/src/auth/rate-limit.ts), on a fake clock. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RATE_WINDOW_MS, TaskRateWindows } from '../../gateway/src/auth/rate-limit.js';

describe('task rate windows', () => {
  it('never lets more tasks through in one window than the limit, whatever the batch sizes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 40 }), (limit, costs) => {
        const windows = new TaskRateWindows(() => 0);
        const taken = costs.reduce((sum, cost) => sum + (windows.take('k', cost, limit).ok ? cost : 0), 0);
        return taken <= limit;
      }),
    );
  });

  it('charges a refused batch nothing, and starts afresh in the next window', () => {
    let now = 0;
    const windows = new TaskRateWindows(() => now);
    assert.equal(windows.take('k', 2, 3).ok, true);
    assert.equal(windows.take('k', 2, 3).ok, false);
    assert.deepEqual(windows.take('k', 1, 3), { ok: true, remaining: 0, resetS: 60 });
    assert.equal(windows.take('other', 3, 3).ok, true, 'keys are counted apart');
    now = RATE_WINDOW_MS;
    assert.equal(windows.take('k', 3, 3).ok, true);
  });
});
