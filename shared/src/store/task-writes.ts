/**
 * The rules of task state writes: how two writes of one task merge in a batch the way the
 * UPSERT would (by the state order of core/task.ts: a late PENDING never overwrites SUCCESS), and
 * which values a write may not hold. The store applies them; the SQL mirrors them.
 */
import {
  CelerityError,
  findUnstorable,
  stateOrder,
  type TaskWrite,
  unstorableTextReason,
} from '../core/index.js';

// The order lives with the states (core/task.ts); importers of the store keep finding it here.
;

function minDate(a: Date | undefined, b: Date | undefined): Date | undefined {
  if (!a) return b;
  if (!b) return a;
  return a < b ? a : b;
}

/**
 * Whether two writes of one id may become one: not when they name other tasks (the statement
 * refuses the one that does not match the row, which a merge would hide), nor when they come
 * from other lease holders (each is checked against the row's lease on its own). The batch
 * writer sends writes that cannot merge in separate statements.
 */
export function canMerge(older: TaskWrite, newer: TaskWrite): boolean {
  return older.name === newer.name && (older.leaseHolder ?? null) === (newer.leaseHolder ?? null);
}

/**
 * Merges two writes of one task the way the UPSERT statement would: the write with the higher
 * state order decides state, result, error, retries and finishedAt (absent = cleared);
 * name, queue, args and kwargs stay as first written; worker and startedAt fall back to the
 * other write; createdAt keeps the earliest. Only for writes that `canMerge`.
 */
export function mergeWrites(older: TaskWrite, newer: TaskWrite): TaskWrite {
  const newerWins = stateOrder(newer.state, newer.retries ?? 0) > stateOrder(older.state, older.retries ?? 0);
  const [win, lose] = newerWins ? [newer, older] : [older, newer];
  const createdAt = minDate(older.createdAt, newer.createdAt);
  return {
    id: older.id,
    name: older.name,
    queue: older.queue,
    args: older.args ?? newer.args,
    kwargs: older.kwargs ?? newer.kwargs,
    state: win.state,
    result: win.result ?? null,
    error: win.error ?? null,
    retries: win.retries ?? 0,
    finishedAt: win.finishedAt ?? null,
    startedAt: win.startedAt ?? lose.startedAt ?? null,
    worker: win.worker ?? lose.worker ?? null,
    attempts: Math.max(older.attempts ?? 0, newer.attempts ?? 0),
    deliveries:
      (newer.retries ?? 0) > (older.retries ?? 0) ? (newer.deliveries ?? 0) : Math.max(older.deliveries ?? 0, newer.deliveries ?? 0),
    ...(createdAt ? { createdAt } : {}),
    ...((older.owner ?? newer.owner) ? { owner: older.owner ?? newer.owner } : {}),
    ...(older.leaseHolder ? { leaseHolder: older.leaseHolder } : {}),
    ...(newerWins ? (newer.leaseExpiresAt ? { leaseExpiresAt: newer.leaseExpiresAt } : {}) : laterLease(older, newer)),
  };
}

/** Same state order: the later of the two leases, as the UPSERT keeps it. */
function laterLease(a: TaskWrite, b: TaskWrite): { leaseExpiresAt?: Date } {
  const later = !a.leaseExpiresAt ? b.leaseExpiresAt : !b.leaseExpiresAt ? a.leaseExpiresAt : a.leaseExpiresAt > b.leaseExpiresAt ? a.leaseExpiresAt : b.leaseExpiresAt;
  return later ? { leaseExpiresAt: later } : {};
}

/** Defence in depth: the checks of jsonb.ts on one write, so a bad value never reaches a batch. */
export function unstorableWrite(w: TaskWrite): CelerityError | undefined {
  for (const [field, text] of [['id', w.id], ['name', w.name], ['queue', w.queue], ['owner', w.owner ?? '']] as const) {
    const reason = unstorableTextReason(text);
    if (reason) return new CelerityError('UNSTORABLE_VALUE', `Task ${field} ${reason}`);
  }
  const bad = findUnstorable(w.args ?? [], 'args') ?? findUnstorable(w.kwargs ?? {}, 'kwargs') ?? findUnstorable(w.result ?? null, 'result');
  return bad ? new CelerityError('UNSTORABLE_VALUE', `Task ${w.id}: ${bad.path} ${bad.reason}`) : undefined;
}
