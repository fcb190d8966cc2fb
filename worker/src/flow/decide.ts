/**
 * The pure decisions of per-key concurrency: a task's key, its key's limit, what a task does
 * when it arrives (take a slot, wait, be dropped, supersede the running ones) and which waiting
 * tasks a freed slot goes to. The transactions that apply them are in flow-gate.ts.
 */
import { MAX_FLOW_KEY_LENGTH, type ConcurrencyConfig, type ConcurrencyStrategy, type TaskDefinition } from '../../../shared/src/app/index.js';
import type { Dispatchable, LiveSlot } from '../../../shared/src/store/index.js';
import { unstorableTextReason } from '../../../shared/src/core/index.js';
import { flowInput } from './rate-key.js';
/** The error type of a task whose key function threw or returned no usable key. */
export const CONCURRENCY_KEY_ERROR = 'ConcurrencyKeyError';

export type KeyResult = { ok: true; key: string } | { ok: false; message: string };

/**
 * The key of a task of a limited type, from its parsed input: a one-object task's input, else
 * `{ args, kwargs }`. Without a key function, one key ('') for the whole task type.
 */
export function flowKeyOf(definition: Pick<TaskDefinition, 'name' | 'style'>, config: ConcurrencyConfig, args: unknown[], kwargs: Record<string, unknown>): KeyResult {
  if (!config.key) return { ok: true, key: '' };
  let key: unknown;
  try {
    key = config.key(flowInput(definition, args, kwargs));
  } catch (err) {
    return { ok: false, message: `The concurrency key function of ${definition.name} threw: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof key !== 'string') return { ok: false, message: `The concurrency key function of ${definition.name} returned ${describe(key)}, not a string` };
  if (key.length > MAX_FLOW_KEY_LENGTH) {
    return { ok: false, message: `The concurrency key function of ${definition.name} returned a key of ${key.length} characters (at most ${MAX_FLOW_KEY_LENGTH})` };
  }
  // PostgreSQL would refuse it (U+0000, a lone surrogate): the task would be requeued over and over.
  const unstorable = unstorableTextReason(key);
  if (unstorable) return { ok: false, message: `The concurrency key function of ${definition.name} returned a key the store cannot hold: ${unstorable}` };
  return { ok: true, key };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
}

/** How many tasks of `key` may run at once: `limit × weight`, rounded down, at least 1. */
export function keyLimit(config: Pick<ConcurrencyConfig, 'limit' | 'weights'>, key: string): number {
  const weight = config.weights?.[key] ?? 1;
  return Math.max(1, Math.floor(config.limit * weight));
}

/** What an arriving task does, given its key's live slots (oldest first). */
export type EntryDecision =
  /** Run: it takes a slot, or takes its own row back (a redelivered or a dispatched copy). */
  | { kind: 'take' }
  /** The key is full: wait out of the queue, in PostgreSQL. */
  | { kind: 'park' }
  /** The key is full and the newest loses: REVOKED at once. */
  | { kind: 'cancel-newest' }
  /** The key is full and the newest wins: revoke (terminate) these holders, oldest first, and wait for their slots. */
  | { kind: 'supersede'; victims: string[] };

export function decideEntry(taskId: string, live: readonly Pick<LiveSlot, 'taskId'>[], limit: number, strategy: ConcurrencyStrategy = 'queue'): EntryDecision {
  if (live.some((slot) => slot.taskId === taskId) || live.length < limit) return { kind: 'take' };
  switch (strategy) {
    case 'queue':
      return { kind: 'park' };
    case 'cancel-newest':
      return { kind: 'cancel-newest' };
    case 'cancel-in-progress':
      // As many of the oldest as it takes to leave one slot free for this task.
      return { kind: 'supersede', victims: live.slice(0, live.length - limit + 1).map((slot) => slot.taskId) };
  }
}

/**
 * Which waiting tasks to publish now, oldest first: one whose slot is still live (a dispatch
 * that did not complete) goes again without needing room; the others take the room left.
 */
export function pickDispatch<T extends Pick<Dispatchable, 'taskId'>>(candidates: readonly T[], live: readonly Pick<LiveSlot, 'taskId'>[], limit: number): T[] {
  const holding = new Set(live.map((slot) => slot.taskId));
  let room = limit - live.length;
  const picked: T[] = [];
  for (const candidate of candidates) {
    if (holding.has(candidate.taskId)) picked.push(candidate);
    else if (room > 0) {
      picked.push(candidate);
      room -= 1;
    }
  }
  return picked;
}
