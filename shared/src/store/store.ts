/**
 * The result store: task state and results in PostgreSQL. State writes go through a
 * BatchWriter (many tasks per statement) and only ever move a task forward (the rules are in
 * task-writes.ts, the row mapping in task-rows.ts).
 */
import type pg from 'pg';
import { CelerityError } from '../core/index.js';
import type { Logger, TaskRecord, TaskState, TaskWrite } from '../core/index.js';
import { BatchWriter } from './batch-writer.js';
import { byId, databaseUnavailable, runBatch } from './batch-query.js';
import { TaskClaims, type ClaimResult, type TaskClaim } from './task-claims.js';
import { toJsonRow, toRecord, type TaskRow } from './task-rows.js';
import { canMerge, mergeWrites, unstorableWrite } from './task-writes.js';
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

// Where these lived before the split; importers of the store keep finding them here.
;
export type { TaskWrite } from '../core/index.js';
export { databaseUnavailable } from './batch-query.js';
export type { ClaimResult, TaskClaim } from './task-claims.js';

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

/** A row as the UPSERT left it, for the writes that changed it. */
interface ChangedRow {
  id: string;
  state: TaskState;
  finished_at: Date | null;
}

export class TaskStore {
  readonly #pool: pg.Pool;
  readonly #writer: BatchWriter<TaskWrite, ChangedRow | undefined>;
  readonly #claims: TaskClaims;
  readonly #logger: Logger;

  constructor(pool: pg.Pool, options: TaskStoreOptions) {
    this.#pool = pool;
    this.#logger = options.logger;
    this.#claims = new TaskClaims(pool, options);
    this.#writer = new BatchWriter<TaskWrite, ChangedRow | undefined>({
      key: (w) => w.id,
      merge: (older, newer) => (canMerge(older, newer) ? mergeWrites(older, newer) : undefined),
      flush: (rows) => this.#flush(rows),
      maxBatch: options.maxBatch ?? 500,
      maxInFlight: options.maxInFlight ?? 2,
      // A refused batch may be one row's fault: write its rows one by one (batch-writer.ts).
      isolate: (err) => err instanceof CelerityError && err.code === 'STORE_WRITE_REFUSED',
    });
  }

  /**
   * Records a state change; resolves once it is committed (batched with others), with whether
   * the task now shows it (false: the store kept what it had — a state further on, a final
   * state of another run, a live lease of another delivery, another task's name). Rejects at
   * once, before joining a batch, with UNSTORABLE_VALUE when the write holds a value that
   * PostgreSQL refuses (core/jsonb.ts); with STORE_WRITE_REFUSED when PostgreSQL refused it for
   * another lasting reason; with DATABASE_UNAVAILABLE after a few tries when it is away.
   */
  async record(write: TaskWrite): Promise<boolean> {
    const refused = unstorableWrite(write);
    if (refused) throw refused;
    const row = await this.#writer.write(write);
    return row !== undefined && row.state === write.state && (!write.finishedAt || row.finished_at?.getTime() === write.finishedAt.getTime());
  }

  /** Claims the run of a task for one delivery (see task-claims.ts). */
  claim(claim: TaskClaim): Promise<ClaimResult> {
    return this.#claims.claim(claim);
  }

  async #flush(writes: TaskWrite[]): Promise<(ChangedRow | undefined)[]> {
    const statement = { name: 'celerity_upsert_tasks', text: UPSERT_TASKS, what: 'task state(s)' };
    const changed = await runBatch<ChangedRow>(this.#pool, statement, byId(writes).map(toJsonRow), this.#logger);
    const byTask = new Map(changed.map((r) => [r.id, r]));
    return writes.map((w) => byTask.get(w.id));
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

  /**
   * Extends by `leaseMs` from now (the database's clock) the leases of STARTED tasks that
   * these deliveries hold: a lease another delivery took over is left alone.
   */
  async renewLeases(holds: readonly { id: string; holder: string }[], leaseMs: number): Promise<void> {
    if (holds.length === 0) return;
    const values = [holds.map((h) => h.id), holds.map((h) => h.holder), Math.round(leaseMs)];
    try {
      await this.#pool.query({ name: 'celerity_renew_leases', text: RENEW_TASK_LEASES, values });
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

  /** Resolves when the store is usable: the database answers and the tasks table is there. */
  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1 FROM tasks LIMIT 0');
  }

  /** Waits for every write made so far to be flushed. */
  async idle(): Promise<void> {
    await Promise.all([this.#writer.idle(), this.#claims.idle()]);
  }
}

