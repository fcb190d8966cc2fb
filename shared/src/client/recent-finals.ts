/**
 * The final outcomes this process heard on its reply queue, kept a short while so that a read
 * right after an answer never shows an earlier state than the answer did. A Celerity worker
 * replies as soon as a task's outcome is known and commits it to the store just after
 * (worker/src/pipeline/settle.ts), so for a moment the reply is ahead of the store: a
 * `?wait=` answered 200 SUCCESS, then a `GET` on the same gateway reading the row as STARTED (or
 * no row at all: the gateway's PENDING write and the worker's STARTED write can both trail the
 * reply), would go back in time. Reads go through `read()`: the store's row when it is final,
 * else the row with the known outcome laid over it.
 *
 * Only this process holds it: another gateway or client may show the earlier state until the
 * worker's commit lands. Bounded by count and age (see RecentFinalsOptions); an entry is dropped
 * as soon as a read finds the row final (the store has caught up), and the gateway drops it too
 * when PostgreSQL notifies the commit, so what stays is mostly the commits still to come.
 */
import type { TaskOutcome } from '../amqp/protocol.js';
import type { TaskStore } from '../db/store.js';
import { isFinalState, type TaskRecord } from '../task.js';

export interface RecentFinalsOptions {
  /**
   * Most outcomes kept; past it the oldest go first. Their results can be large, and the
   * unclaimed-reply map this replaces had the same bound. @default 10000
   */
  maxEntries?: number;
  /**
   * How long an outcome is kept, in ms: longer than a worker retries its final write while the
   * database is away (2 minutes) before the task runs again. @default 300000
   */
  maxAgeMs?: number;
  /** Monotonic clock in ms (tests). @default performance.now */
  now?: () => number;
}

interface Entry {
  outcome: TaskOutcome;
  at: number;
  /** The task as this process submitted it, for a read that finds no row yet. */
  task?: TaskRecord;
}

export class RecentFinals {
  /** Insertion order = arrival order, so the first entry is the oldest. */
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  constructor(options: RecentFinalsOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxAgeMs = options.maxAgeMs ?? 300_000;
    this.#now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A reply arrived: keep it when final. The newest outcome of a task wins (a re-run replies again). */
  add(outcome: TaskOutcome): void {
    if (!isFinalState(outcome.state)) return;
    const now = this.#now();
    const task = this.#live(outcome.id, now)?.task;
    this.#entries.delete(outcome.id);
    this.#entries.set(outcome.id, { outcome, at: now, ...(task ? { task } : {}) });
    this.#prune(now);
  }

  /** The task behind a kept outcome, as its submit here knew it (a no-op when no outcome is kept). */
  describe(task: TaskRecord): void {
    const entry = this.#live(task.id, this.#now());
    if (entry) entry.task = task;
  }

  /** The kept final outcome of task `id`, if any. */
  get(id: string): TaskOutcome | undefined {
    return this.#live(id, this.#now())?.outcome;
  }

  /** The store has the final state (a notification said so): nothing left to add. */
  forget(id: string): void {
    this.#entries.delete(id);
  }

  clear(): void {
    this.#entries.clear();
  }

  /**
   * Task `id` as this process knows it: the store's row when final; else the row (or the task
   * as submitted here, when there is no row yet) with the kept outcome over it; else the row.
   */
  async read(store: Pick<TaskStore, 'get'>, id: string): Promise<TaskRecord | undefined> {
    // Looked up before the store is read: an entry dropped because the commit was seen is only
    // missing for reads that start after that commit, which the store then shows.
    const entry = this.#live(id, this.#now());
    const row = await store.get(id);
    if (!entry) return row;
    if (row && isFinalState(row.state)) {
      this.#entries.delete(id);
      return row;
    }
    const base = row ?? entry.task;
    return base ? withOutcome(base, entry.outcome) : undefined;
  }

  #live(id: string, now: number): Entry | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    if (now - entry.at <= this.#maxAgeMs) return entry;
    this.#entries.delete(id);
    return undefined;
  }

  #prune(now: number): void {
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && now - entry.at <= this.#maxAgeMs) return;
      this.#entries.delete(id);
    }
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
