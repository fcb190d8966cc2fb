/**
 * Which budget a rate-limited task spends, and how much of it: its definition's `rateLimit.key`
 * and `units`, called with the task's parsed input (a one-object task's input, else `{ args,
 * kwargs }`). Pure, apart from calling the app's functions: a function that throws or returns
 * something unusable fails that task alone, with a message saying what was wrong.
 */
import { MAX_FLOW_KEY_LENGTH, isValidUnits, type TaskDefinition } from '../../../shared/src/app/index.js';
import { unstorableTextReason } from '../../../shared/src/core/index.js';

/** The task's key and units, or why they could not be had. */
export type RateTicket = { ok: true; key: string; units: number } | { ok: false; reason: string };

/** What the app's key and units functions get. */
export function flowInput(definition: Pick<TaskDefinition, 'style'>, args: unknown[], kwargs: Record<string, unknown>): unknown {
  return definition.style === 'input' ? kwargs : { args, kwargs };
}

/** The rate key of a task whose definition has no `rateLimit`: its type as a whole (what `ctx.backoff` pauses then). */
export const WHOLE_TYPE_KEY = '';

/** Runs `rateLimit.key` and `rateLimit.units` for one task (`definition.rateLimit` set). */
export function rateTicket(definition: Pick<TaskDefinition, 'style' | 'rateLimit'>, args: unknown[], kwargs: Record<string, unknown>): RateTicket {
  const limit = definition.rateLimit;
  if (!limit) return { ok: true, key: WHOLE_TYPE_KEY, units: 1 };
  const input = flowInput(definition, args, kwargs);
  let key: unknown = WHOLE_TYPE_KEY;
  let units: unknown = limit.units ?? 1;
  try {
    if (limit.key) key = limit.key(input);
  } catch (err) {
    return { ok: false, reason: `rateLimit.key threw: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof key !== 'string') return { ok: false, reason: `rateLimit.key must return a string, got ${key === null ? 'null' : typeof key}` };
  if (key.length > MAX_FLOW_KEY_LENGTH) return { ok: false, reason: `rateLimit.key returned ${key.length} characters; at most ${MAX_FLOW_KEY_LENGTH} are allowed` };
  const unstorable = unstorableTextReason(key);
  if (unstorable) return { ok: false, reason: `rateLimit.key returned a string the store cannot hold: ${unstorable}` };
  try {
    if (typeof units === 'function') units = (units as (input: unknown) => unknown)(input);
  } catch (err) {
    return { ok: false, reason: `rateLimit.units threw: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!isValidUnits(units)) return { ok: false, reason: `rateLimit.units must be a positive number, got ${String(units)}` };
  return { ok: true, key, units };
}
