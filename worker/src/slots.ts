/**
 * A counting gate: at most `size` holders at once, waiters served in arrival order. The
 * consumer uses it when quorum queues rule out channel-wide prefetch (see consumer.ts), so a
 * worker consuming several queues still runs at most `concurrency` tasks at once.
 */
export class Slots {
  #free: number;
  readonly #waiting: { grant: () => void; signal: AbortSignal | undefined; onAbort: () => void }[] = [];

  /** @param size slots; at least 1. */
  constructor(size: number) {
    this.#free = Math.max(1, size);
  }

  /** Messages delivered but waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves with a release function once a slot is free; rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new SlotAbortedError());
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => resolve(this.#releaser()),
        signal,
        onAbort: () => {
          const at = this.#waiting.indexOf(entry);
          if (at >= 0) this.#waiting.splice(at, 1);
          reject(new SlotAbortedError());
        },
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      this.#waiting.push(entry);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) {
        next.signal?.removeEventListener('abort', next.onAbort);
        next.grant();
      } else {
        this.#free++;
      }
    };
  }
}

/** The wait for a slot was aborted (the worker is stopping): the message goes back. */
export class SlotAbortedError extends Error {
  override readonly name = 'SlotAbortedError';
  readonly code = 'SLOT_ABORTED';
}
