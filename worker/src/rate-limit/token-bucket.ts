/**
 * One task's start budget on this worker: a token bucket holding one token, refilled at the
 * rate, as Celery's workers keep one (kombu's TokenBucket with capacity 1). So starts are
 * spaced `1 / rate` apart, and an idle task may start at once. Time is passed in, so the
 * bucket is tested without a clock.
 */
export class TokenBucket {
  /** When the next token is there, in ms; -Infinity = there is one now. */
  #nextAtMs = -Infinity;
  readonly #intervalMs: number;

  /** @param perSecond starts per second, above 0. */
  constructor(readonly perSecond: number) {
    if (!(perSecond > 0) || !Number.isFinite(perSecond)) throw new RangeError(`a rate must be a positive number of starts per second, got ${perSecond}`);
    this.#intervalMs = 1000 / perSecond;
  }

  /** Takes the next token: how long to wait for it from `nowMs`, in ms (0 = start now). */
  reserve(nowMs: number): number {
    const at = Math.max(nowMs, this.#nextAtMs);
    this.#nextAtMs = at + this.#intervalMs;
    return at - nowMs;
  }
}
