/**
 * Deduplication on submit (`options.dedupe: { key, mode, windowS }`): the rule that decides,
 * for a submit whose dedupe key is already held by an earlier task, whether it gets that task
 * back, a new task, or a new task that replaces the earlier one. It rides on the idempotency
 * keys' table and flow (store/idempotency.ts, idempotent-submits.ts): the decision is taken in
 * one transaction that holds the key's row lock, so concurrent submits with one key (in one
 * process or on many gateways) see each other's outcome in turn.
 *
 *   singleton  while the held task is not final      → that task; once final → a new one
 *   throttle   within windowS of the held task's claim → that task; after → a new one
 *   debounce   the held task is still waiting (its eta, claim + windowS, is ahead)
 *                                                     → a new task, delayed windowS, and the
 *                                                       held one is revoked (it never runs)
 *              the held task is due or done           → a new task (a new burst)
 *
 * A held claim whose publish was not confirmed is answered only once it is: this process waits
 * for its own publish; another process's is waited for (polled) up to UNCONFIRMED_TAKEOVER_MS,
 * after which the claim counts as abandoned (its process died before publishing) and is taken.
 */
import { z } from 'zod';
import type { HeldDedupe } from '../store/index.js';

export const DEDUPE_MODES = ['singleton', 'throttle', 'debounce'] as const;

export type DedupeMode = (typeof DEDUPE_MODES)[number];

/** Longest dedupe key, in characters. */
const MAX_DEDUPE_KEY_CHARS = 200;
/** Longest `windowS`: one day, in seconds. */
const MAX_DEDUPE_WINDOW_S = 86_400;

/**
 * How long an unconfirmed claim of another process is waited for before it is taken, in ms:
 * longer than a publish may wait for its confirm (the publisher gives up after 10 s).
 */
export const UNCONFIRMED_TAKEOVER_MS = 15_000;

export const dedupeSchema = z
  .object({
    key: z.string().min(1).max(MAX_DEDUPE_KEY_CHARS).describe('Submits with one key (per task name, and per API key when keys are on) are deduplicated together.'),
    mode: z.enum(DEDUPE_MODES),
    windowS: z.number().positive().max(MAX_DEDUPE_WINDOW_S).optional().describe('Seconds: the throttle window, or the debounce delay. Required for throttle and debounce.'),
  })
  .strict()
  .refine((dedupe) => dedupe.mode === 'singleton' || dedupe.windowS !== undefined, {
    message: 'windowS is required for throttle and debounce',
    path: ['windowS'],
  })
  .describe(
    'Deduplication on submit. singleton: while a task submitted with this key is not final, a submit returns it; throttle: at most one task per windowS; debounce: the task runs windowS after the last submit of a burst, with its input. Answered 200 with the header Deduplicated: true when an earlier task is returned.',
  );

export type DedupeOption = z.output<typeof dedupeSchema>;

/**
 * The row key of a dedupe key in the idempotency keys' table. It holds a space, which no
 * Idempotency-Key (printable ASCII without spaces), task name or API key id has, so it never
 * meets an idempotency key, and the task name and owner before the free-form key keep it
 * unambiguous: one key per (task name, owner, dedupe key).
 */
export function dedupeRowKey(taskName: string, owner: string | null | undefined, key: string): string {
  return `dedupe ${taskName} ${owner ?? ''} ${key}`;
}

export type DedupeDecision =
  /** Claim the key for the new task: nothing held, or what is held no longer counts. */
  | { kind: 'claim' }
  /** Debounce: claim the key for the new task and revoke `replaced`, which has not started. */
  | { kind: 'replace'; replaced: string }
  /** Answer with the held task (once its publish is confirmed). */
  | { kind: 'held'; taskId: string; unconfirmed: boolean };

/** What a submit in `mode` (window `windowMs`) at `now` gets while `held` holds its key. */
export function decideDedupe(mode: DedupeMode, windowMs: number, held: HeldDedupe | undefined, now: number): DedupeDecision {
  if (!held) return { kind: 'claim' };
  if (mode === 'debounce') {
    return !held.final && held.runAt !== undefined && held.runAt > now ? { kind: 'replace', replaced: held.taskId } : { kind: 'claim' };
  }
  if (held.unconfirmed && now - held.claimedAt >= UNCONFIRMED_TAKEOVER_MS) return { kind: 'claim' };
  const counts = mode === 'singleton' ? !held.final : now - held.claimedAt < windowMs;
  return counts ? { kind: 'held', taskId: held.taskId, unconfirmed: held.unconfirmed } : { kind: 'claim' };
}
