/**
 * The `tasks` table's row as node-postgres returns it (snake_case columns, the error in two
 * columns) and the JSON rows the UPSERT reads with jsonb_to_recordset: the mapping between the
 * table and TaskRecord / TaskWrite, in one place.
 */
import { toStorableText, truncateText } from '../core/index.js';
import type { TaskRecord, TaskState, TaskWrite } from '../core/index.js';

/**
 * A row of `tasks` (migrations.ts): its own shape because columns are snake_case and the error
 * is two columns; nothing outside db/ sees it.
 */
export interface TaskRow {
  id: string;
  name: string;
  queue: string;
  state: TaskState;
  args: unknown[];
  kwargs: Record<string, unknown>;
  result: unknown;
  error_type: string | null;
  error_message: string | null;
  retries: number;
  worker: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
  attempts: number;
  deliveries: number;
  owner: string | null;
  lease_expires_at: Date | null;
  lease_holder: string | null;
}

export function toRecord(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    name: row.name,
    queue: row.queue,
    state: row.state,
    args: row.args,
    kwargs: row.kwargs,
    result: row.result,
    error: row.error_type === null ? null : { type: row.error_type, message: row.error_message ?? '' },
    retries: row.retries,
    worker: row.worker,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    attempts: row.attempts,
    deliveries: row.deliveries,
    owner: row.owner,
    leaseExpiresAt: row.lease_expires_at,
    leaseHolder: row.lease_holder,
  };
}

export function toJsonRow(w: TaskWrite): Record<string, unknown> {
  return {
    id: w.id,
    name: w.name,
    queue: w.queue,
    state: w.state,
    args: w.args ?? null,
    kwargs: w.kwargs ?? null,
    // jsonb_to_recordset reads a JSON null as SQL NULL; a result of `null` is stored as such.
    result: w.result === undefined ? null : w.result,
    // Free text from tasks and peers: bounded, and U+0000 / lone surrogates replaced, so an
    // error message can always be stored.
    error_type: w.error ? toStorableText(truncateText(w.error.type, 200)) : null,
    error_message: w.error ? toStorableText(truncateText(w.error.message)) : null,
    retries: w.retries ?? 0,
    worker: w.worker == null ? null : toStorableText(w.worker),
    created_at: w.createdAt?.toISOString() ?? null,
    started_at: w.startedAt?.toISOString() ?? null,
    finished_at: w.finishedAt?.toISOString() ?? null,
    attempts: w.attempts ?? 0,
    deliveries: w.deliveries ?? 0,
    owner: w.owner ?? null,
    lease_expires_at: w.leaseExpiresAt?.toISOString() ?? null,
    lease_holder: w.leaseHolder == null ? null : toStorableText(w.leaseHolder),
  };
}
