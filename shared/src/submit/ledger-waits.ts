/**
 * The waits on the task ledger (task-ledger.ts): requests waiting for tasks to finish
 * (`?wait=`, `result()`). The ledger resolves a wait with whichever comes first: the task's
 * reply on this process's reply queue, or a poll of the result store made here.
 * The poll matters when the reply cannot come here: a GET long-poll on a task another
 * gateway submitted, or a reply lost with a reply queue during a reconnect. A notification
 * from the store (FinishedListener) makes a waiter's next poll immediate. One query per
 * tick serves every waiter due for a poll, so the cost does not grow with each request.
 * Every waiter ends: with an outcome, at its deadline, or when its request goes away.
 *
 * A held wait should cost little (docs/performance.md, Memory): the deadlines share one timer
 * (deadline-queue.ts), and a waiter is one small object, plus one listener when it has a signal.
 */
import { MAX_TIMER_MS, type Logger } from '../core/index.js';
import type { TaskOutcome } from '../broker/index.js';
import type { TaskStore } from '../store/index.js';
import type { TaskRecord } from '../core/index.js';
import { DeadlineQueue, type Deadlined } from './deadline-queue.js';

export type Finished = { kind: 'reply'; outcome: TaskOutcome } | { kind: 'record'; record: TaskRecord };

/**
 * What ends a wait early. An AbortSignal is one; the gateway passes a lighter object per held
 * request (an AbortSignal is an EventTarget with a hidden class of its own, about 1 KB).
 */
export interface WaitSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export interface WaitOptions {
  timeoutMs: number;
  /** Start polling the store after this long; replies are expected before then. @default 0 */
  pollAfterMs?: number;
  signal?: WaitSignal;
}

/** A registered wait (`TaskLedger.start`). */
export interface PendingWait {
  /** How the task finished, or `undefined` at the deadline, on abort or on `cancel()`. */
  readonly finished: Promise<Finished | undefined>;
  /** Ends this wait now, as a timeout; a no-op once it has ended. */
  cancel(): void;
}

/**
 * A reply to a task this process just published is expected well within this, in ms; until
 * then its wait listens only to the reply queue, after it (or for anyone else's task) it polls
 * the store too.
 */
export const REPLY_GRACE_MS = 1_000;

class Waiter implements Deadlined, PendingWait {
  heapIndex = -1;
  heapSeq = 0;
  readonly finished: Promise<Finished | undefined>;
  #resolve!: (value: Finished | undefined) => void;
  #onAbort: (() => void) | undefined;
  #ended = false;

  constructor(
    readonly id: string,
    readonly deadline: number,
    public nextPollAt: number,
    public pollEveryMs: number,
    /** The owner's bookkeeping, one function shared by every waiter. */
    private readonly release: (waiter: Waiter) => void,
    private readonly signal: WaitSignal | undefined,
  ) {
    this.finished = new Promise((resolve) => (this.#resolve = resolve));
    if (signal) {
      this.#onAbort = () => this.end(undefined);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Resolves the wait and forgets it; only the first call counts. */
  end(value: Finished | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#onAbort) this.signal?.removeEventListener('abort', this.#onAbort);
    this.#onAbort = undefined;
    this.release(this);
    this.#resolve(value);
  }

  cancel(): void {
    this.end(undefined);
  }
}

/** How waits poll the store. */
export interface LedgerWaitsOptions {
  /** Tick of the store poll, in ms. @default 100 */
  tickMs?: number;
  /** First poll interval of a waiter; doubles up to `maxPollMs`. @default 200 */
  minPollMs?: number;
  /** @default 1000 */
  maxPollMs?: number;
  /** Ids per poll query. @default 1000 */
  pollBatch?: number;
}

export class LedgerWaits {
  /** One waiter per id almost always: a Set only for the second one on the same task. */
  readonly #byId = new Map<string, Waiter | Set<Waiter>>();
  readonly #deadlines = new DeadlineQueue<Waiter>();
  /** Armed for the earliest deadline while any waiter exists. */
  #deadlineTimer: NodeJS.Timeout | undefined;
  #deadlineTimerAt = Infinity;
  readonly #release = (waiter: Waiter): void => this.#remove(waiter);
  readonly #options: Required<LedgerWaitsOptions>;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(
    private readonly store: Pick<TaskStore, 'getFinished'>,
    private readonly logger: Logger,
    /** Hands each final row a poll found to the ledger, which resolves the waits on it. */
    private readonly onPolled: (record: TaskRecord) => void,
    /** The last wait on task `id` ended. */
    private readonly onIdle: (id: string) => void,
    options: LedgerWaitsOptions = {},
  ) {
    this.#options = { tickMs: 100, minPollMs: 200, maxPollMs: 1000, pollBatch: 1000, ...options };
  }

  get size(): number {
    // Every waiter is in the deadline queue until it ends.
    return this.#deadlines.size;
  }

  /** Whether anyone waits on task `id` (the ledger never evicts its entry then). */
  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** Registers a wait that its caller can also end early (`cancel()`); the ledger answered it first if it could. */
  start(id: string, options: WaitOptions): PendingWait {
    if (options.signal?.aborted) return ended(undefined);
    const now = Date.now();
    const waiter = new Waiter(id, now + options.timeoutMs, now + (options.pollAfterMs ?? 0), this.#options.minPollMs, this.#release, options.signal);
    const other = this.#byId.get(id);
    if (!other) this.#byId.set(id, waiter);
    else if (other instanceof Set) other.add(waiter);
    else this.#byId.set(id, new Set([other, waiter]));
    this.#deadlines.push(waiter);
    this.#armDeadlineTimer();
    this.#startTicking();
    return waiter;
  }


  /**
   * The task is known to have finished elsewhere (a notification from the store): poll it on
   * the next tick instead of at its backed-off time. A no-op for ids nobody waits on.
   */
  nudge(id: string): void {
    for (const waiter of waitersOf(this.#byId.get(id))) waiter.nextPollAt = 0;
  }

  /** Ends every wait on task `id` with `value` (the ledger calls it once the task is final here). */
  resolveAll(id: string, value: Finished): void {
    for (const waiter of [...waitersOf(this.#byId.get(id))]) waiter.end(value);
  }

  #remove(waiter: Waiter): void {
    const entry = this.#byId.get(waiter.id);
    if (entry === waiter) {
      this.#byId.delete(waiter.id);
      this.onIdle(waiter.id);
    } else if (entry instanceof Set && entry.delete(waiter)) {
      if (entry.size === 1) this.#byId.set(waiter.id, entry.values().next().value!);
    } else return;
    // The timer stays armed for a removed head: it fires, finds nothing due and re-arms,
    // which is cheaper than re-arming on every answered request.
    this.#deadlines.remove(waiter);
    if (this.#deadlines.size === 0) {
      this.#stopTicking();
      this.#disarmDeadlineTimer();
    }
  }

  #armDeadlineTimer(): void {
    const next = this.#deadlines.nextDeadline;
    if (next === undefined || next >= this.#deadlineTimerAt) return;
    this.#disarmDeadlineTimer();
    this.#deadlineTimerAt = next;
    // Not unref'd: like the per-waiter timer it replaces, a pending wait keeps the process alive.
    this.#deadlineTimer = setTimeout(() => this.#expire(), Math.min(MAX_TIMER_MS, Math.max(0, next - Date.now())));
  }

  #disarmDeadlineTimer(): void {
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    this.#deadlineTimerAt = Infinity;
  }

  /** Ends the waiters whose deadline has passed, earliest first, then re-arms for the next. */
  #expire(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineTimerAt = Infinity;
    const now = Date.now();
    for (let waiter = this.#deadlines.popDue(now); waiter; waiter = this.#deadlines.popDue(now)) waiter.end(undefined);
    this.#armDeadlineTimer();
  }

  #startTicking(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#tick(), this.#options.tickMs);
    // Waiting requests keep the process alive through their sockets, not through this timer.
    this.#timer.unref();
  }

  #stopTicking(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    if (this.#polling) return;
    const now = Date.now();
    const due: string[] = [];
    for (const [id, entry] of this.#byId) {
      let isDue = false;
      if (entry instanceof Set) for (const waiter of entry) isDue = this.#pollDue(waiter, now) || isDue;
      else isDue = this.#pollDue(entry, now);
      if (isDue) due.push(id);
      if (due.length >= this.#options.pollBatch) break;
    }
    if (due.length === 0) return;
    this.#polling = true;
    this.store
      .getFinished(due)
      .then((records) => {
        for (const record of records) this.onPolled(record);
      })
      .catch((err: unknown) => {
        // The waiters keep their deadlines; the next tick tries again.
        this.logger.warn('polling the result store for waiting requests failed', { err, ids: due.length });
      })
      .finally(() => {
        this.#polling = false;
      });
  }

  /** Whether `waiter` is due for a poll at `now`; if so, backs off its next one. */
  #pollDue(waiter: Waiter, now: number): boolean {
    if (waiter.nextPollAt > now) return false;
    waiter.nextPollAt = now + waiter.pollEveryMs;
    waiter.pollEveryMs = Math.min(this.#options.maxPollMs, waiter.pollEveryMs * 2);
    return true;
  }

  /** Ends every wait now (as a timeout): used when the gateway or client stops. */
  cancelAll(): void {
    for (const waiter of this.#deadlines.drain()) waiter.end(undefined);
    this.#stopTicking();
    this.#disarmDeadlineTimer();
  }
}

function waitersOf(entry: Waiter | Set<Waiter> | undefined): Iterable<Waiter> {
  if (entry === undefined) return [];
  return entry instanceof Set ? entry : [entry];
}

/** A wait answered before it was registered. */
function ended(value: Finished | undefined): PendingWait {
  return { finished: Promise.resolve(value), cancel: () => undefined };
}
