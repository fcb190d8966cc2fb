/**
 * A bound on submits in flight: how many submits of one process may be between "start
 * building the message" and "the broker confirmed (or refused) it" at once. Past the bound a
 * submit waits here, in arrival order, holding only its validated submission (a few hundred
 * bytes) instead of an encoded message, its headers, a PENDING row in the write batch, a
 * publish promise and a confirm timer.
 *
 * Without it, a burst of 10,000 `?wait=` requests had 10,000 publishes under way at once:
 * their buffers and promises lived long enough to be promoted to V8's old space, and the
 * gateway's memory stayed high long after (docs/performance.md, Memory). A held wait gives its
 * slot back once its publish is confirmed, so waiting for results never holds a slot, and no
 * submit holds two slots: the bound cannot deadlock.
 */
export class SubmitSlots {
  #free: number;
  /** Waiting submits, oldest first, from `#head` on (a queue without O(n) shifts). */
  #waiting: ((() => void) | undefined)[] = [];
  #head = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`the bound on submits in flight must be a positive integer, got ${max}`);
    this.#free = max;
  }

  /** Submits holding a slot now. */
  get inFlight(): number {
    return this.max - this.#free;
  }

  /** Submits waiting for a slot now. */
  get queued(): number {
    return this.#waiting.length - this.#head;
  }

  /** Takes a slot: `undefined` when one was free (no promise made), else a promise of one. */
  acquire(): Promise<void> | undefined {
    if (this.#free > 0) {
      this.#free--;
      return undefined;
    }
    return new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  /** Gives a slot back; the oldest waiting submit gets it. Call once per slot taken. */
  release(): void {
    const next = this.#waiting[this.#head];
    if (next === undefined) {
      this.#free++;
      return;
    }
    this.#waiting[this.#head++] = undefined; // no longer referenced once granted
    if (this.#head === this.#waiting.length) {
      this.#waiting = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
    // The slot passes straight to the next submit, so the count of free ones stays the same.
    next();
  }
}
