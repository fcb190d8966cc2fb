/**
 * The result store: task state and results in PostgreSQL. State writes go through a
 * BatchWriter (many tasks per statement) and only ever move a task forward.
 */
import type pg from 'pg';
import { CelerityError, truncateText } from '../errors.js';
import { findUnstorable, toStorableText, unstorableTextReason } from '../jsonb.js';
import type { Logger } from '../logger.js';
import { isFinalState, type TaskRecord, type TaskState } from '../task.js';
import { BatchWriter } from './batch-writer.js';
import { isRetryablePgError } from './pg-errors.js';
import {
  DELETE_EXPIRED_TASKS,
  DELETE_UNPUBLISHED_TASK,
  RENEW_TASK_LEASES,
  RESET_TASKS_FOR_REDRIVE,
  RESTORE_TASKS_AFTER_FAILED_REDRIVE,
  SEARCH_TASKS,
  SELECT_FINISHED_TASKS,
  SELECT_TASK,
  UPSERT_TASKS,
} from './statements.js';

/** One state write. Fields left out keep what the store already has. */
export interface TaskWrite {
  id: string;
  name: string;
  queue: string;
  state: TaskState;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  result?: unknown;
  error?: { type: string; message: string } | null;
  retries?: number;
  worker?: string | null;
  createdAt?: Date;
  startedAt?: Date | null;
  finishedAt?: Date | null;
  /** Starts over the task's life; the store keeps the highest value written. */
  attempts?: number;
  /** Starts of the current message (this retries round); see migration 2. */
  deliveries?: number;
  /** The API key that submitted the task; kept once set. */
  owner?: string | null;
  /** Lease of the worker running it (STARTED); see migration 5. */
  leaseExpiresAt?: Date | null;
}

interface TaskRow {
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
}

const STATE_RANK: Record<TaskState, number> = {
  PENDING: 0,
  RECEIVED: 1,
  STARTED: 2,
  RETRY: 3,
  SUCCESS: 4,
  FAILURE: 4,
  REVOKED: 4,
};

/** The same order as the SQL function celerity_state_order (migration 1). */
export function stateOrder(state: TaskState, retries: number): number {
  return isFinalState(state) ? Number.MAX_SAFE_INTEGER : retries * 8 + STATE_RANK[state];
}

function minDate(a: Date | undefined, b: Date | undefined): Date | undefined {
  if (!a) return b;
  if (!b) return a;
  return a < b ? a : b;
}

/**
 * Merges two writes of one task the way the UPSERT statement would: the write with the higher
 * state order decides state, result, error, retries and finishedAt (absent = cleared);
 * name, queue, args and kwargs stay as first written; worker and startedAt fall back to the
 * other write; createdAt keeps the earliest.
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
    ...(newerWins ? (newer.leaseExpiresAt ? { leaseExpiresAt: newer.leaseExpiresAt } : {}) : laterLease(older, newer)),
  };
}

/** Same state order: the later of the two leases, as the UPSERT keeps it. */
function laterLease(a: TaskWrite, b: TaskWrite): { leaseExpiresAt?: Date } {
  const later = !a.leaseExpiresAt ? b.leaseExpiresAt : !b.leaseExpiresAt ? a.leaseExpiresAt : a.leaseExpiresAt > b.leaseExpiresAt ? a.leaseExpiresAt : b.leaseExpiresAt;
  return later ? { leaseExpiresAt: later } : {};
}

function toRecord(row: TaskRow): TaskRecord {
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
  };
}

function toJsonRow(w: TaskWrite): Record<string, unknown> {
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
  };
}

/** A task search: every field optional; see SEARCH_TASKS. */
export interface TaskSearch {
  id?: string;
  name?: string;
  states?: TaskState[];
  queue?: string;
  /** Created at or after. */
  from?: Date;
  /** Created before. */
  to?: Date;
  /** Rows per page. */
  limit: number;
  /** From the previous page's `nextCursor`. */
  after?: TaskCursor;
}

/** Where a page ended: the last row's created_at (PostgreSQL's text, full precision) and id. */
export interface TaskCursor {
  createdAt: string;
  id: string;
}

export interface TaskPage {
  tasks: TaskRecord[];
  /** Set when there may be more rows after this page. */
  next: TaskCursor | null;
}

/** What a re-drive reset did (see TaskStore.resetForRedrive). */
export interface RedriveReset {
  /** Tasks not reset because they are not in FAILURE: their dead letters are stale. */
  skipped: string[];
  /** Puts the reset tasks among these ids back as they were (their re-publish failed). */
  undo: (ids: string[]) => Promise<void>;
}

export interface TaskStoreOptions {
  logger: Logger;
  /** Rows per statement at most. @default 500 */
  maxBatch?: number;
  /** Statements in flight at once. @default 2 */
  maxInFlight?: number;
}

/** Attempts for one batch when PostgreSQL reports a retryable error (deadlock, restart). */
const FLUSH_ATTEMPTS = 3;

export class TaskStore {
  readonly #pool: pg.Pool;
  readonly #writer: BatchWriter<TaskWrite>;
  readonly #logger: Logger;

  constructor(pool: pg.Pool, options: TaskStoreOptions) {
    this.#pool = pool;
    this.#logger = options.logger;
    this.#writer = new BatchWriter<TaskWrite>({
      key: (w) => w.id,
      merge: mergeWrites,
      flush: (rows) => this.#flush(rows),
      maxBatch: options.maxBatch ?? 500,
      maxInFlight: options.maxInFlight ?? 2,
      // A refused batch may be one row's fault: write its rows one by one (batch-writer.ts).
      isolate: (err) => err instanceof CelerityError && err.code === 'STORE_WRITE_REFUSED',
    });
  }

  /**
   * Records a state change; resolves once it is committed (batched with others). Rejects at
   * once, before joining a batch, with UNSTORABLE_VALUE when the write holds a value that
   * PostgreSQL refuses (jsonb.ts); with STORE_WRITE_REFUSED when PostgreSQL refused it for
   * another lasting reason; with DATABASE_UNAVAILABLE after a few tries when it is away.
   */
  record(write: TaskWrite): Promise<void> {
    const refused = unstorableWrite(write);
    if (refused) return Promise.reject(refused);
    return this.#writer.write(write);
  }

  async #flush(rows: TaskWrite[]): Promise<void> {
    // Sorted so that concurrent batches take row locks in the same order.
    let json: string;
    try {
      json = JSON.stringify(rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(toJsonRow));
    } catch (err) {
      // A value that slipped past record()'s checks (a toJSON that throws): one row's fault.
      throw new CelerityError('STORE_WRITE_REFUSED', `A task state cannot be written as JSON: ${describePgError(err)}`, { cause: err });
    }
    for (let attempt = 1; ; attempt++) {
      try {
        // Named: node-postgres prepares it once per connection, so PostgreSQL plans it once.
        await this.#pool.query({ name: 'celerity_upsert_tasks', text: UPSERT_TASKS, values: [json] });
        return;
      } catch (err) {
        if (!isRetryablePgError(err)) {
          throw new CelerityError('STORE_WRITE_REFUSED', `The database refused the write of ${rows.length} task state(s): ${describePgError(err)}`, { cause: err });
        }
        if (attempt >= FLUSH_ATTEMPTS) throw databaseUnavailable(err);
        this.#logger.warn('retrying a task state batch', { rows: rows.length, attempt, err });
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    try {
      const { rows } = await this.#pool.query<TaskRow>({ name: 'celerity_select_task', text: SELECT_TASK, values: [id] });
      return rows[0] ? toRecord(rows[0]) : undefined;
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /** The tasks among `ids` that are finished; one query for any number of ids. */
  async getFinished(ids: readonly string[]): Promise<TaskRecord[]> {
    if (ids.length === 0) return [];
    try {
      const { rows } = await this.#pool.query<TaskRow>({ name: 'celerity_select_finished', text: SELECT_FINISHED_TASKS, values: [ids] });
      return rows.map(toRecord);
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /**
   * Puts dead-lettered tasks in FAILURE back to PENDING with a fresh retry budget (before a
   * re-drive). Tasks in any other state are `skipped` (their dead letter is a stale duplicate);
   * `undo(ids)` restores the reset tasks among `ids` whose re-publish failed.
   */
  async resetForRedrive(ids: readonly string[]): Promise<RedriveReset> {
    if (ids.length === 0) return { skipped: [], undo: () => Promise.resolve() };
    let rows: (Record<string, unknown> & { id: string; reset: boolean })[];
    try {
      ({ rows } = await this.#pool.query<Record<string, unknown> & { id: string; reset: boolean }>(RESET_TASKS_FOR_REDRIVE, [ids]));
    } catch (err) {
      throw databaseUnavailable(err);
    }
    const before = new Map(rows.filter((r) => r.reset).map(({ reset: _reset, ...row }) => [row.id, row]));
    return {
      skipped: rows.filter((r) => !r.reset).map((r) => r.id),
      undo: async (failed) => {
        const restore = failed.flatMap((id) => before.get(id) ?? []);
        if (restore.length === 0) return;
        try {
          await this.#pool.query(RESTORE_TASKS_AFTER_FAILED_REDRIVE, [JSON.stringify(restore)]);
        } catch (err) {
          throw databaseUnavailable(err);
        }
      },
    };
  }

  /** Extends the leases of these STARTED tasks to `until`; finished ones are left alone. */
  async renewLeases(ids: readonly string[], until: Date): Promise<void> {
    if (ids.length === 0) return;
    try {
      await this.#pool.query({ name: 'celerity_renew_leases', text: RENEW_TASK_LEASES, values: [ids, until] });
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /** One page of tasks matching `search`, newest first. */
  async search(search: TaskSearch): Promise<TaskPage> {
    const values = [
      search.id ?? null,
      search.name ?? null,
      search.states && search.states.length > 0 ? search.states : null,
      search.queue ?? null,
      search.from ?? null,
      search.to ?? null,
      search.after?.createdAt ?? null,
      search.after?.id ?? null,
      search.limit,
    ];
    try {
      const { rows } = await this.#pool.query<TaskRow & { cursor_created_at: string }>(SEARCH_TASKS, values);
      const last = rows.at(-1);
      return {
        tasks: rows.map(toRecord),
        next: last && rows.length === search.limit ? { createdAt: last.cursor_created_at, id: last.id } : null,
      };
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /** Forgets a task whose publish failed, unless a worker has recorded it since. */
  async forgetUnpublished(id: string): Promise<void> {
    await this.#pool.query(DELETE_UNPUBLISHED_TASK, [id]);
  }

  /** Deletes finished tasks last changed before `cutoff`, `batch` rows per statement; never an unfinished one. */
  async deleteExpired(cutoff: Date, batch = 1000): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.#pool.query(DELETE_EXPIRED_TASKS, [cutoff, batch]);
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < batch) return total;
    }
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  /** Waits for every write made so far to be flushed. */
  async idle(): Promise<void> {
    await this.#writer.idle();
  }
}

/** Defence in depth: the checks of jsonb.ts on one write, so a bad value never reaches a batch. */
function unstorableWrite(w: TaskWrite): CelerityError | undefined {
  for (const [field, text] of [['id', w.id], ['name', w.name], ['queue', w.queue], ['owner', w.owner ?? '']] as const) {
    const reason = unstorableTextReason(text);
    if (reason) return new CelerityError('UNSTORABLE_VALUE', `Task ${field} ${reason}`);
  }
  const bad = findUnstorable(w.args ?? [], 'args') ?? findUnstorable(w.kwargs ?? {}, 'kwargs') ?? findUnstorable(w.result ?? null, 'result');
  return bad ? new CelerityError('UNSTORABLE_VALUE', `Task ${w.id}: ${bad.path} ${bad.reason}`) : undefined;
}

function describePgError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? truncateText(err.message, 500) : String(err);
  return typeof code === 'string' ? `${code} ${message}` : message;
}

export function databaseUnavailable(err: unknown): Error {
  if (err instanceof CelerityError) return err;
  if (isRetryablePgError(err)) {
    return new CelerityError('DATABASE_UNAVAILABLE', 'The database is unavailable', { cause: err, retryAfterS: 2 });
  }
  return err instanceof Error ? err : new Error(String(err), { cause: err });
}
