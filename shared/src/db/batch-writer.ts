/**
 * Group commit for state writes. Callers `write()` one row and get a promise; rows that
 * arrive while a flush is in progress are gathered and written together by the next flush,
 * so under load one statement carries many rows, and with no load a row is written at once
 * (no timer). Rows with the same key are merged before they reach the database.
 *
 * A batch is all-or-nothing, so one bad row would fail every caller in it. When a batch of
 * several rows fails with an error `isolate` picks (one that a row itself causes, such as a
 * value the database refuses), its rows are written again one by one: the others land, and
 * only the bad row's caller gets the error.
 */
export interface BatchWriterOptions<T> {
  key: (row: T) => string;
  /** Combines two pending writes of the same key into one. */
  merge: (older: T, newer: T) => T;
  /** Writes a batch; must be all-or-nothing. */
  flush: (rows: T[]) => Promise<void>;
  /** Most rows in one flush. @default 500 */
  maxBatch?: number;
  /** Flushes running at once. @default 2 */
  maxInFlight?: number;
  /**
   * Whether a failed batch should be written again row by row (the error may come from one
   * row, not from the database being away). @default never
   */
  isolate?: (err: unknown) => boolean;
}

interface Pending<T> {
  row: T;
  resolvers: { resolve: () => void; reject: (err: unknown) => void }[];
}

export class BatchWriter<T> {
  readonly #options: Required<BatchWriterOptions<T>>;
  readonly #pending = new Map<string, Pending<T>>();
  #inFlight = 0;
  #scheduled = false;
  readonly #idleWaiters: (() => void)[] = [];

  constructor(options: BatchWriterOptions<T>) {
    this.#options = { maxBatch: 500, maxInFlight: 2, isolate: () => false, ...options };
  }

  get pending(): number {
    return this.#pending.size;
  }

  write(row: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const key = this.#options.key(row);
      const existing = this.#pending.get(key);
      if (existing) {
        existing.row = this.#options.merge(existing.row, row);
        existing.resolvers.push({ resolve, reject });
      } else {
        this.#pending.set(key, { row, resolvers: [{ resolve, reject }] });
      }
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#options.maxInFlight || this.#pending.size === 0) return;
    this.#scheduled = true;
    // One macrotask turn lets the rows written in the same tick join the batch.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushSome();
    });
  }

  #flushSome(): void {
    while (this.#inFlight < this.#options.maxInFlight && this.#pending.size > 0) {
      const batch: Pending<T>[] = [];
      for (const [key, entry] of this.#pending) {
        this.#pending.delete(key);
        batch.push(entry);
        if (batch.length >= this.#options.maxBatch) break;
      }
      this.#inFlight++;
      // #flushBatch settles every caller and never rejects.
      void this.#flushBatch(batch).finally(() => {
        this.#inFlight--;
        if (this.#pending.size > 0) this.#schedule();
        else if (this.#inFlight === 0) this.#idleWaiters.splice(0).forEach((w) => w());
      });
    }
  }

  /** Flushes `batch`; on an isolatable failure, each row alone. Settles every caller; never rejects. */
  async #flushBatch(batch: Pending<T>[]): Promise<void> {
    const settle = (entry: Pending<T>, ...failure: [unknown?]): void =>
      entry.resolvers.forEach((r) => (failure.length === 0 ? r.resolve() : r.reject(failure[0])));
    try {
      await this.#options.flush(batch.map((e) => e.row));
      batch.forEach((e) => settle(e));
      return;
    } catch (err) {
      if (batch.length === 1 || !this.#options.isolate(err)) {
        batch.forEach((e) => settle(e, err));
        return;
      }
    }
    // One at a time: a batch that failed because of one row is small (maxBatch), and this
    // path is rare; it must not hammer the database with the batch's full width at once.
    for (const entry of batch) {
      try {
        await this.#options.flush([entry.row]);
        settle(entry);
      } catch (err) {
        settle(entry, err);
      }
    }
  }

  /** Resolves once every row written so far has been flushed (or has failed). */
  async idle(): Promise<void> {
    if (this.#pending.size === 0 && this.#inFlight === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }
}
