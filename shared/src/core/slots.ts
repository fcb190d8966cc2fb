/**
 * A counting gate: at most `size` holders at once, waiters served in arrival order. Two places
 * bound work with it:
 * - the worker's consumer, when quorum queues rule out channel-wide prefetch (worker/src/consumer.ts),
 *   so a worker consuming several queues still runs at most `concurrency` tasks at once;
 * - the submitter, which bounds the submits between building their message and the broker's
 *   confirm (shared/src/submit/submitter.ts), so a burst of requests waits holding only its
 *   validated submissions instead of encoded messages and publish promises.
 *
 * `tryAcquire()` takes a free slot without a promise (the submit path's common case); the
 * waiters' queue is a list with a moving head, so a long queue (thousands of held submits) costs
 * no O(n) shift per grant. A slot released while someone waits passes straight to the oldest.
 */

/** Gives a slot back; calling it again changes nothing. */
export type Release = () => void;

interface Waiter {
  grant: () => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
  /** Its signal aborted: skipped when its turn comes. */
  aborted: boolean;
}

export class Slots {
  /** Free slots; below 0 after a shrink below the slots held (releases pay that back first). */
  #free: number;
  #size: number;
  /** Waiters, oldest first, from `#head` on (granted ones are cleared to `undefined`). */
  #queue: (Waiter | undefined)[] = [];
  #head = 0;
  #waiting = 0;

  /** @param size slots: a positive integer. */
  constructor(size: number) {
    this.#size = checkedSize(size);
    this.#free = size;
  }

  /** Slots in all. */
  get size(): number {
    return this.#size;
  }

  /**
   * Changes the number of slots (a worker's concurrency at run time). New slots go to the
   * oldest waiters at once; a shrink takes no slot back: it waits for holders to release.
   */
  resize(size: number): void {
    this.#free += checkedSize(size) - this.#size;
    this.#size = size;
    while (this.#free > 0) {
      const next = this.#next();
      if (!next) break;
      this.#free--;
      next.signal?.removeEventListener('abort', next.onAbort);
      next.grant();
    }
  }

  /** Slots held now. */
  get held(): number {
    return this.size - this.#free;
  }

  /** Acquirers waiting for a slot now. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Takes a free slot at once, or `undefined` when none is free (nothing is queued then). */
  tryAcquire(): Release | undefined {
    if (this.#free <= 0) return undefined; // below 0 after a shrink: still over the size
    this.#free--;
    return this.#releaser();
  }

  /** Resolves with a release once a slot is free; rejects with SlotAbortedError if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(new SlotAbortedError());
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => resolve(this.#releaser()),
        signal,
        onAbort: () => {
          waiter.aborted = true;
          this.#waiting--;
          reject(new SlotAbortedError());
        },
        aborted: false,
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.push(waiter);
      this.#waiting++;
    });
  }

  #releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Shrunk below the slots held: this one is gone, not passed on.
      const next = this.#free < 0 ? undefined : this.#next();
      if (!next) {
        this.#free++;
        return;
      }
      next.signal?.removeEventListener('abort', next.onAbort);
      // The slot passes straight to the next waiter, so the count of free ones stays the same.
      next.grant();
    };
  }

  /** Takes the oldest waiter off the queue, skipping aborted ones. */
  #next(): Waiter | undefined {
    while (this.#head < this.#queue.length) {
      const waiter = this.#queue[this.#head];
      this.#queue[this.#head++] = undefined; // no longer referenced once granted
      if (waiter && !waiter.aborted) {
        this.#waiting--;
        this.#compact();
        return waiter;
      }
    }
    this.#compact();
    return undefined;
  }

  /** Drops the granted prefix of the queue once it is empty, or once it is most of the list. */
  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}

function checkedSize(size: number): number {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`a slot count must be a positive integer, got ${size}`);
  return size;
}

/** The wait for a slot was aborted (the worker is stopping): the message goes back. */
export class SlotAbortedError extends Error {
  override readonly name = 'SlotAbortedError';
  readonly code = 'SLOT_ABORTED';
}
