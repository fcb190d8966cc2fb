/**
 * Group commit for state writes. Callers `write()` one row and get a promise; rows that
 * arrive while a flush is in progress are gathered and written together by the next flush,
 * so under load one statement carries many rows, and with no load a row is written at once
 * (no timer). Rows with the same key are merged before they reach the database.
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
    this.#options = { maxBatch: 500, maxInFlight: 2, ...options };
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
      this.#options
        .flush(batch.map((e) => e.row))
        .then(
          () => batch.forEach((e) => e.resolvers.forEach((r) => r.resolve())),
          (err: unknown) => batch.forEach((e) => e.resolvers.forEach((r) => r.reject(err))),
        )
        .finally(() => {
          this.#inFlight--;
          if (this.#pending.size > 0) this.#schedule();
          else if (this.#inFlight === 0) this.#idleWaiters.splice(0).forEach((w) => w());
        });
    }
  }

  /** Resolves once every row written so far has been flushed (or has failed). */
  async idle(): Promise<void> {
    if (this.#pending.size === 0 && this.#inFlight === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }
}
