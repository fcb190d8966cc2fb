/**
 * Group commit for state writes. Callers `write()` one row and get a promise; rows that
 * arrive while a flush is in progress are gathered and written together by the next flush,
 * so under load one statement carries many rows, and with no load a row is written at once
 * (no timer). Rows with the same key are merged before they reach the database; rows that
 * must not merge (merge gives undefined) wait for a later batch, so a statement never holds
 * one key twice. A flush may answer each row (a claim: did it land?): each caller gets its
 * row's answer, and the callers of merged rows share it.
 *
 * A batch is all-or-nothing, so one bad row would fail every caller in it. When a batch of
 * several rows fails with an error `isolate` picks (one that a row itself causes, such as a
 * value the database refuses), its rows are written again one by one: the others land, and
 * only the bad row's caller gets the error.
 */
export interface BatchWriterOptions<T, R = void> {
  key: (row: T) => string;
  /**
   * Combines two pending writes of the same key into one; undefined when they must be written
   * apart (the newer one goes in a later batch). @default never merged
   */
  merge?: (older: T, newer: T) => T | undefined;
  /** Writes a batch; must be all-or-nothing. May answer each row, in the order given. */
  flush: (rows: T[]) => Promise<readonly R[] | void>;
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

interface Pending<T, R> {
  row: T;
  resolvers: { resolve: (answer: R) => void; reject: (err: unknown) => void }[];
}

export class BatchWriter<T, R = void> {
  readonly #options: Required<BatchWriterOptions<T, R>>;
  readonly #pending = new Map<string, Pending<T, R>>();
  /** Rows whose key was pending with a row they cannot merge with, oldest first. */
  readonly #waiting: Pending<T, R>[] = [];
  #inFlight = 0;
  #scheduled = false;
  readonly #idleWaiters: (() => void)[] = [];

  constructor(options: BatchWriterOptions<T, R>) {
    this.#options = { maxBatch: 500, maxInFlight: 2, isolate: () => false, merge: () => undefined, ...options };
  }

  get pending(): number {
    return this.#pending.size + this.#waiting.length;
  }

  write(row: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const key = this.#options.key(row);
      const existing = this.#pending.get(key);
      // Behind a waiting row of its key, a row waits too: writes of one key keep their order.
      const behind = this.#waiting.length > 0 && this.#waiting.some((w) => this.#options.key(w.row) === key);
      const merged = existing && !behind ? this.#options.merge(existing.row, row) : undefined;
      if (existing && merged !== undefined) {
        existing.row = merged;
        existing.resolvers.push({ resolve, reject });
      } else if (existing || behind) {
        this.#waiting.push({ row, resolvers: [{ resolve, reject }] });
      } else {
        this.#pending.set(key, { row, resolvers: [{ resolve, reject }] });
      }
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#options.maxInFlight || this.pending === 0) return;
    this.#scheduled = true;
    // One macrotask turn lets the rows written in the same tick join the batch.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushSome();
    });
  }

  /** Moves waiting rows whose key is no longer pending into the next batch, oldest first. */
  #promoteWaiting(): void {
    for (let i = 0; i < this.#waiting.length; ) {
      const entry = this.#waiting[i]!;
      const key = this.#options.key(entry.row);
      if (this.#pending.has(key)) {
        i++;
        continue;
      }
      this.#pending.set(key, entry);
      this.#waiting.splice(i, 1);
    }
  }

  #flushSome(): void {
    while (this.#inFlight < this.#options.maxInFlight && this.pending > 0) {
      if (this.#pending.size === 0) this.#promoteWaiting();
      const batch: Pending<T, R>[] = [];
      for (const [key, entry] of this.#pending) {
        this.#pending.delete(key);
        batch.push(entry);
        if (batch.length >= this.#options.maxBatch) break;
      }
      this.#promoteWaiting();
      this.#inFlight++;
      // #flushBatch settles every caller and never rejects.
      void this.#flushBatch(batch).finally(() => {
        this.#inFlight--;
        if (this.pending > 0) this.#schedule();
        else if (this.#inFlight === 0) this.#idleWaiters.splice(0).forEach((w) => w());
      });
    }
  }

  /** Flushes `batch`; on an isolatable failure, each row alone. Settles every caller; never rejects. */
  async #flushBatch(batch: Pending<T, R>[]): Promise<void> {
    const fail = (entry: Pending<T, R>, err: unknown): void => entry.resolvers.forEach((r) => r.reject(err));
    const answer = (entry: Pending<T, R>, answers: readonly R[] | void, i: number): void =>
      // A flush that answers nothing (R = void) resolves each caller with undefined.
      entry.resolvers.forEach((r) => r.resolve((answers ? answers[i] : undefined) as R));
    try {
      const answers = await this.#options.flush(batch.map((e) => e.row));
      batch.forEach((e, i) => answer(e, answers, i));
      return;
    } catch (err) {
      if (batch.length === 1 || !this.#options.isolate(err)) {
        batch.forEach((e) => fail(e, err));
        return;
      }
    }
    // One at a time: a batch that failed because of one row is small (maxBatch), and this
    // path is rare; it must not hammer the database with the batch's full width at once.
    for (const entry of batch) {
      try {
        answer(entry, await this.#options.flush([entry.row]), 0);
      } catch (err) {
        fail(entry, err);
      }
    }
  }

  /** Resolves once every row written so far has been flushed (or has failed). */
  async idle(): Promise<void> {
    if (this.pending === 0 && this.#inFlight === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }
}
