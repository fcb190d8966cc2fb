/**
 * The result-mode rules (shared/src/core/result-mode.ts, worker/src/pipeline/rows.ts): a valid
 * header wins over the task's mode, anything else in the header counts as absent; which
 * deliveries claim and which runs write rows.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RESULT_MODE_HEADER, RESULT_MODES, REPUBLISHED_HEADER, resultModeOf, type ResultMode } from '../../shared/src/core/index.js';
import { claimsRun, writesRows } from '../../worker/src/pipeline/rows.js';
import type { Delivery } from '../../worker/src/pipeline/types.js';

const mode = fc.constantFrom<ResultMode>(...RESULT_MODES);

describe('result modes', () => {
  it('a valid header wins; an absent or invalid one leaves the task mode, else full', () => {
    fc.assert(
      fc.property(fc.option(mode, { nil: undefined }), fc.option(fc.oneof(mode, fc.string(), fc.integer(), fc.constant(null)), { nil: undefined }), (taskMode, header) => {
        const headers = header === undefined ? {} : { [RESULT_MODE_HEADER]: header };
        const expected = typeof header === 'string' && (RESULT_MODES as readonly string[]).includes(header) ? header : (taskMode ?? 'full');
        assert.equal(resultModeOf(headers, taskMode), expected);
      }),
    );
    assert.equal(resultModeOf(undefined, undefined), 'full');
  });

  it('full always claims, none never, final only a copy seen before; only none writes no rows', () => {
    fc.assert(
      fc.property(mode, fc.boolean(), fc.boolean(), (m, redelivered, republished) => {
        const delivery: Delivery = { queue: 'q', content: Buffer.alloc(0), redelivered, properties: { headers: republished ? { [REPUBLISHED_HEADER]: true } : {} } };
        const expected = m === 'full' || (m === 'final' && (redelivered || republished));
        assert.equal(claimsRun(m, delivery), expected);
        assert.equal(writesRows(m), m !== 'none');
      }),
    );
  });
});
