/**
 * Which rows a run writes, by its result mode (shared/src/core/result-mode.ts): the claim before
 * it runs, and the final write before its ack.
 *
 * - `full`: every delivery claims (STARTED with its lease), and the final row is written.
 * - `final`: only a copy seen before claims (redelivered, or re-published by a gateway): that is
 *   where a task may already be final or still running elsewhere. A first delivery runs without a
 *   row, so what `final` gives up is the lease of that first run: a copy redelivered while it still
 *   runs (its worker lost its connection but kept running) finds no lease and runs beside it. The
 *   first final row still wins in the store, and a copy of a task already final is answered, not run.
 * - `none`: nothing is claimed or written; a redelivered copy runs again (at-least-once, with no
 *   store to tell a copy from a first run).
 */
import { REPUBLISHED_HEADER, type ResultMode } from '../../../shared/src/core/index.js';
import type { Delivery } from './types.js';

/** Whether this delivery claims its run before running (the STARTED row with a lease). */
export function claimsRun(mode: ResultMode, delivery: Delivery): boolean {
  if (mode === 'full') return true;
  if (mode === 'none') return false;
  return delivery.redelivered || delivery.properties.headers?.[REPUBLISHED_HEADER] === true;
}

/** Whether the run's states (final, and RETRY) are written to the store. */
export function writesRows(mode: ResultMode): boolean {
  return mode !== 'none';
}
