/**
 * One entry of the task ledger (task-ledger.ts): its states in order, what it holds, what it
 * costs in bytes, and the record a final reply makes of the task as submitted.
 */
import type { TaskOutcome } from '../broker/index.js';
import type { TaskRecord } from '../core/index.js';

/** How far this process got with a task, in order (see the file's comment). */
export type LedgerState = 'published' | 'waiting' | 'final-heard' | 'committed';
export const RANK: Readonly<Record<LedgerState, number>> = { published: 0, waiting: 1, 'final-heard': 2, committed: 3 };

/** One transition of one task, as `subscribe` reports it. */
interface LedgerChange {
  id: string;
  state: LedgerState;
  /** The task as known after the change: the store's row, or the submitted task with the final reply over it. */
  task: TaskRecord | undefined;
}

export type LedgerListener = (change: LedgerChange) => void;

/** 32 MiB: thousands of ordinary results, a few dozen large ones (docs/reliability.md). */
export const DEFAULT_LEDGER_MAX_BYTES = 32 * 1024 * 1024;

/** What an entry costs besides its JSON: the Map slot, the entry, its id, the record's fields. */
export const ENTRY_OVERHEAD_BYTES = 400;

export interface Entry {
  state: LedgerState;
  /** The task as submitted here, owner included: what a read finds before any row, and what a recorded reply completes. */
  task: TaskRecord | undefined;
  /** Published with this process's reply queue: a final reply whose sender records nothing is written from here. */
  recordsReply: boolean;
  /** Result mode `none`: no row will ever be committed, so the final reply ends the entry's use. */
  noRow?: true;
  /** The final reply, once heard. */
  outcome: TaskOutcome | undefined;
  bytes: number;
  listeners: Set<LedgerListener> | undefined;
}

/** An entry's estimated bytes: a fixed overhead plus its arguments, result and error as JSON. */
export function entryBytes(id: string, entry: Pick<Entry, 'task' | 'outcome'>): number {
  return ENTRY_OVERHEAD_BYTES + id.length + jsonBytes(entry.task?.args) + jsonBytes(entry.task?.kwargs) + jsonBytes(entry.outcome?.result) + jsonBytes(entry.outcome?.error);
}

/** Estimated bytes of `value` as JSON (strings count one byte per character). */
function jsonBytes(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'string') return value.length + 2;
  if (typeof value !== 'object') return 8;
  try {
    return JSON.stringify(value).length;
  } catch {
    return 0;
  }
}

/**
 * `task` as the final `outcome` leaves it: state, result, error and the run's fields from the
 * outcome; identity, arguments, owner and creation from the task.
 */
export function withOutcome(task: TaskRecord, outcome: TaskOutcome): TaskRecord {
  const { leaseExpiresAt: _lease, ...rest } = task;
  return {
    ...rest,
    state: outcome.state,
    result: outcome.result,
    error: outcome.error ?? null,
    retries: outcome.retries ?? task.retries,
    startedAt: outcome.startedAt ?? task.startedAt ?? null,
    finishedAt: outcome.finishedAt,
    worker: outcome.worker ?? task.worker ?? null,
    // Celery workers don't count attempts; one reply means at least one.
    attempts: outcome.attempts ?? Math.max(task.attempts ?? 0, 1),
  };
}
