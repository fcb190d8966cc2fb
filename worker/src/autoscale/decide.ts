/**
 * The autoscaler's rule, as a pure function of one sample (property-tested in
 * test/unit/autoscale.test.ts): grow at once while messages wait in the consumed queues, shrink
 * once they have been empty for a whole cool-down, never leave the bounds.
 */
import type { AutoscaleBounds } from '../../../shared/src/config/index.js';

/** What the autoscaler saw on one tick. */
export interface AutoscaleSample {
  /** Tasks the worker runs at once now. */
  concurrency: number;
  /** Messages ready (not yet delivered to any consumer) in the worker's queues, summed. */
  ready: number;
  /** Deliveries this worker holds now (running, or waiting to start). */
  inFlight: number;
  /** Time since a tick last saw ready messages (or the worker last grew), in ms. */
  idleForMs: number;
}

/** Why the concurrency changes: a backlog, an idle cool-down, or a value outside the bounds. */
export type AutoscaleReason = 'backlog' | 'idle' | 'bounds';

export type AutoscaleDecision = { kind: 'stay' } | { kind: 'grow' | 'shrink'; to: number; reason: AutoscaleReason };

/**
 * The next concurrency. Growing goes straight to what the backlog asks for (what is held plus
 * what waits, at most `max`), as Celery's autoscaler does: a backlog should not wait a tick per
 * slot. Shrinking waits for `coolDownMs` without ready messages, so a bursty queue does not
 * flap, and then goes down to what is still held (at least `min`): running tasks are never cut,
 * their slots simply are not refilled.
 */
export function decide(bounds: AutoscaleBounds, sample: AutoscaleSample, coolDownMs: number): AutoscaleDecision {
  const { concurrency, ready, inFlight, idleForMs } = sample;
  if (concurrency < bounds.min) return { kind: 'grow', to: bounds.min, reason: 'bounds' };
  if (concurrency > bounds.max) return { kind: 'shrink', to: bounds.max, reason: 'bounds' };
  if (ready > 0) {
    const wanted = Math.min(bounds.max, inFlight + ready);
    return wanted > concurrency ? { kind: 'grow', to: wanted, reason: 'backlog' } : { kind: 'stay' };
  }
  if (idleForMs < coolDownMs) return { kind: 'stay' };
  const wanted = Math.max(bounds.min, Math.min(inFlight, concurrency));
  return wanted < concurrency ? { kind: 'shrink', to: wanted, reason: 'idle' } : { kind: 'stay' };
}
