/**
 * A task's event log and latest progress in PostgreSQL (migration 10): the worker appends the
 * entries of a running task in batches, gateways read them back to replay a stream that opened
 * late or resumes (`Last-Event-ID`). Entry ids are the sequence numbers streams resume from.
 */
import type pg from 'pg';
import type { ProgressData, TaskEvent, TaskEventKind } from '../core/index.js';
import { databaseUnavailable } from './batch-query.js';

/**
 * Appends entries in the given order and returns their ids in that order. The ids come from
 * nextval() in the select list, which PostgreSQL evaluates after the ORDER BY, so they follow
 * the entries' order. With a progress entry, the task's latest progress is set in the same
 * statement.
 */
const APPEND_TASK_EVENTS = `
  WITH appended AS (
    INSERT INTO task_events (id, task_id, kind, data)
    SELECT nextval(pg_get_serial_sequence('task_events', 'id')), $1, e.kind, e.data
    FROM unnest($2::text[], $3::jsonb[]) WITH ORDINALITY AS e(kind, data, n)
    ORDER BY e.n
    RETURNING id
  ), progress AS (
    INSERT INTO task_progress (task_id, fraction, message, updated_at)
    SELECT $1, $4::double precision, $5, now() WHERE $4::double precision IS NOT NULL
    ON CONFLICT (task_id) DO UPDATE SET fraction = EXCLUDED.fraction, message = EXCLUDED.message, updated_at = EXCLUDED.updated_at
  )
  SELECT id::text AS seq FROM appended ORDER BY appended.id
`;

/** Only the latest progress (past the log's bound). */
const UPSERT_TASK_PROGRESS = `
  INSERT INTO task_progress (task_id, fraction, message, updated_at) VALUES ($1, $2, $3, now())
  ON CONFLICT (task_id) DO UPDATE SET fraction = EXCLUDED.fraction, message = EXCLUDED.message, updated_at = EXCLUDED.updated_at
`;

/** How many entries a task has and its last id: where a new attempt's entries continue. */
const SELECT_TASK_EVENT_TAIL = `SELECT count(*)::int AS count, coalesce(max(id), 0)::text AS last FROM task_events WHERE task_id = $1`;

const SELECT_TASK_EVENTS = `
  SELECT id::text AS seq, kind, data, created_at FROM task_events
  WHERE task_id = $1 AND id > $2 ORDER BY task_events.id LIMIT $3
`;

const SELECT_TASK_PROGRESS = `SELECT fraction, message FROM task_progress WHERE task_id = $1`;

/** An entry before it is stored. */
export interface NewTaskEvent {
  kind: TaskEventKind;
  data: object;
}

interface EventRow {
  seq: string;
  kind: TaskEventKind;
  data: unknown;
  created_at: Date;
}

export class TaskLog {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Appends `entries` (in order) to task `taskId`'s log; resolves with their sequence numbers. */
  async append(taskId: string, entries: readonly NewTaskEvent[], progress?: ProgressData): Promise<number[]> {
    try {
      const { rows } = await this.#pool.query<{ seq: string }>({
        name: 'celerity_append_task_events',
        text: APPEND_TASK_EVENTS,
        values: [taskId, entries.map((e) => e.kind), entries.map((e) => JSON.stringify(e.data)), progress?.fraction ?? null, progress?.message ?? null],
      });
      return rows.map((r) => Number(r.seq));
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /** Sets task `taskId`'s latest progress without an entry in its log. */
  async setProgress(taskId: string, progress: ProgressData): Promise<void> {
    try {
      await this.#pool.query({ name: 'celerity_upsert_task_progress', text: UPSERT_TASK_PROGRESS, values: [taskId, progress.fraction, progress.message ?? null] });
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /** How many entries task `taskId` has, and the sequence number of its last one (0: none). */
  async tail(taskId: string): Promise<{ count: number; last: number }> {
    try {
      const { rows } = await this.#pool.query<{ count: number; last: string }>({ name: 'celerity_task_event_tail', text: SELECT_TASK_EVENT_TAIL, values: [taskId] });
      return { count: rows[0]?.count ?? 0, last: Number(rows[0]?.last ?? 0) };
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /** Task `taskId`'s entries after sequence number `after`, oldest first, at most `limit`. */
  async read(taskId: string, after: number, limit: number): Promise<TaskEvent[]> {
    try {
      const { rows } = await this.#pool.query<EventRow>({ name: 'celerity_select_task_events', text: SELECT_TASK_EVENTS, values: [taskId, after, limit] });
      return rows.map((r) => ({ seq: Number(r.seq), kind: r.kind, data: r.data, at: r.created_at.toISOString() }) as TaskEvent);
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /** Task `taskId`'s latest progress, if it reported any. */
  async progress(taskId: string): Promise<ProgressData | undefined> {
    try {
      const { rows } = await this.#pool.query<{ fraction: number; message: string | null }>({ name: 'celerity_select_task_progress', text: SELECT_TASK_PROGRESS, values: [taskId] });
      const row = rows[0];
      return row ? { fraction: row.fraction, ...(row.message !== null ? { message: row.message } : {}) } : undefined;
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }
}
