/**
 * The arithmetic of keyed rate limits: a generic cell rate algorithm (GCRA). Each key has one
 * time, `nextAt`, when its next unit of budget is free. A task reserves `max(nextAt, now,
 * pausedUntil)` and moves `nextAt` on by its cost (units / rate); it runs at its reservation,
 * so starts of one key are spaced by their costs and never fall inside a pause. A pause moves
 * `pausedUntil` (and `nextAt` with it) forward, never back.
 *
 * PostgreSQL does this in one statement per task (rate-statements.ts), against its own clock, so
 * every worker shares one budget; the functions here are the rule it follows (the integration test
 * checks the statements agree) and the decisions a worker makes from a reservation.
 */

/** A key's row: epoch ms. */
export interface RateState {
  nextAtMs: number;
  pausedUntilMs: number | null;
}

/** A reservation within this much of now runs now: closer than the delay queues can wait (their step is 100 ms). */
export const RUN_NOW_TOLERANCE_MS = 5;

/** What one task spends of its key's budget, in ms of the key's time. */
export function costMs(units: number, perSecond: number): number {
  return (units * 1_000) / perSecond;
}

/** Reserves for one task: its start time, and the key's row after it (`state` undefined: no row yet). */
export function reserve(state: RateState | undefined, nowMs: number, cost: number): { reservedAtMs: number; state: RateState } {
  const reservedAtMs = Math.max(state?.nextAtMs ?? nowMs, nowMs, state?.pausedUntilMs ?? -Infinity);
  return { reservedAtMs, state: { nextAtMs: reservedAtMs + cost, pausedUntilMs: state?.pausedUntilMs ?? null } };
}

/** Pauses a key for `pauseMs` from now: the row after it (the longer of two pauses wins). */
export function pause(state: RateState | undefined, nowMs: number, pauseMs: number): RateState {
  const pausedUntilMs = Math.max(state?.pausedUntilMs ?? -Infinity, nowMs + pauseMs);
  return { nextAtMs: Math.max(state?.nextAtMs ?? -Infinity, pausedUntilMs), pausedUntilMs };
}

/** Whether a task holding a reservation at `heldMs` must reserve again: the key was paused past it since. */
export function mustReserveAgain(heldMs: number, pausedUntilMs: number | null): boolean {
  return pausedUntilMs !== null && pausedUntilMs > heldMs;
}

/** Run now, or how long to wait (ms) before the reservation comes due. */
export function startsIn(reservedAtMs: number, nowMs: number): number {
  const waitMs = reservedAtMs - nowMs;
  return waitMs <= RUN_NOW_TOLERANCE_MS ? 0 : Math.ceil(waitMs);
}
