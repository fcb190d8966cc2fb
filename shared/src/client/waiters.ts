/**
 * Requests waiting for tasks to finish (`?wait=`). A waiter is resolved by whichever comes
 * first: the task's reply on this process's reply queue, or a poll of the result store.
 * The poll matters when the reply cannot come here: a GET long-poll on a task another
 * gateway submitted, or a reply lost with a reply queue during a reconnect. A notification
 * from the store (FinishedListener) makes a waiter's next poll immediate. One query per
 * tick serves every waiter due for a poll, so the cost does not grow with each request.
 * Every waiter ends: with an outcome, at its deadline, or when its request goes away.
 */
import type { Logger } from '../logger.js';
import type { TaskOutcome } from '../amqp/protocol.js';
import type { TaskStore } from '../db/store.js';
import { isFinalState, type TaskRecord } from '../task.js';
import type { RecentFinals } from './recent-finals.js';

export type Finished = { kind: 'reply'; outcome: TaskOutcome } | { kind: 'record'; record: TaskRecord };

interface Waiter {
  id: string;
  resolve: (value: Finished | undefined) => void;
  timer: NodeJS.Timeout;
  nextPollAt: number;
  pollEveryMs: number;
}

export interface WaitOptions {
  timeoutMs: number;
  /** Start polling the store after this long; replies are expected before then. @default 0 */
  pollAfterMs?: number;
  signal?: AbortSignal;
}

export interface TaskWaitersOptions {
  store: TaskStore;
  logger: Logger;
  /** Tick of the store poll, in ms. @default 100 */
  tickMs?: number;
  /** First poll interval of a waiter; doubles up to `maxPollMs`. @default 200 */
  minPollMs?: number;
  /** @default 1000 */
  maxPollMs?: number;
  /** Ids per poll query. @default 1000 */
  pollBatch?: number;
  /**
   * Where final replies are kept (recent-finals.ts): a wait that starts after its reply came
   * (the Node client's `result()` after `submit()` resolved: the reply can beat the publisher
   * confirm) is answered from it instead of a store poll a second later. @default none kept
   */
  finals?: RecentFinals;
}

export class TaskWaiters {
  readonly #byId = new Map<string, Set<Waiter>>();
  readonly #options: Required<Omit<TaskWaitersOptions, 'finals'>>;
  readonly #finals: RecentFinals | undefined;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #count = 0;

  constructor(options: TaskWaitersOptions) {
    const { finals, ...rest } = options;
    this.#options = { tickMs: 100, minPollMs: 200, maxPollMs: 1000, pollBatch: 1000, ...rest };
    this.#finals = finals;
  }

  get size(): number {
    return this.#count;
  }

  /** Resolves with how the task finished, or `undefined` at the deadline or on abort. */
  wait(id: string, options: WaitOptions): Promise<Finished | undefined> {
    return new Promise((resolve) => {
      if (options.signal?.aborted) return resolve(undefined);
      const early = this.#finals?.get(id);
      if (early) return resolve({ kind: 'reply', outcome: early });
      const waiter: Waiter = {
        id,
        resolve: (value) => {
          clearTimeout(waiter.timer);
          options.signal?.removeEventListener('abort', onAbort);
          this.#remove(waiter);
          resolve(value);
        },
        timer: setTimeout(() => waiter.resolve(undefined), options.timeoutMs),
        nextPollAt: Date.now() + (options.pollAfterMs ?? 0),
        pollEveryMs: this.#options.minPollMs,
      };
      const onAbort = (): void => waiter.resolve(undefined);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      let set = this.#byId.get(id);
      if (!set) this.#byId.set(id, (set = new Set()));
      set.add(waiter);
      this.#count++;
      this.#startTicking();
    });
  }

  /**
   * A reply arrived: resolve everyone waiting on that task. Only final states end a wait:
   * Celery's rpc:// backend also sends STARTED (task_track_started) and custom states.
   */
  resolveReply(outcome: TaskOutcome): void {
    if (!isFinalState(outcome.state)) return;
    // Kept before anyone is answered, so a read right after the answer finds it.
    this.#finals?.add(outcome);
    this.#resolveAll(outcome.id, { kind: 'reply', outcome });
  }

  /**
   * The task is known to have finished elsewhere (a notification from the store): poll it on
   * the next tick instead of at its backed-off time. A no-op for ids nobody waits on.
   */
  nudge(id: string): void {
    const set = this.#byId.get(id);
    if (!set) return;
    for (const waiter of set) waiter.nextPollAt = 0;
  }

  #resolveAll(id: string, value: Finished): void {
    const set = this.#byId.get(id);
    if (!set) return;
    for (const waiter of [...set]) waiter.resolve(value);
  }

  #remove(waiter: Waiter): void {
    const set = this.#byId.get(waiter.id);
    if (!set?.delete(waiter)) return;
    this.#count--;
    if (set.size === 0) this.#byId.delete(waiter.id);
    if (this.#count === 0) this.#stopTicking();
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
    for (const [id, set] of this.#byId) {
      let isDue = false;
      for (const waiter of set) {
        if (waiter.nextPollAt <= now) {
          isDue = true;
          waiter.nextPollAt = now + waiter.pollEveryMs;
          waiter.pollEveryMs = Math.min(this.#options.maxPollMs, waiter.pollEveryMs * 2);
        }
      }
      if (isDue) due.push(id);
      if (due.length >= this.#options.pollBatch) break;
    }
    if (due.length === 0) return;
    this.#polling = true;
    this.#options.store
      .getFinished(due)
      .then((records) => {
        for (const record of records) this.#resolveAll(record.id, { kind: 'record', record });
      })
      .catch((err: unknown) => {
        // The waiters keep their deadlines; the next tick tries again.
        this.#options.logger.warn('polling the result store for waiting requests failed', { err, ids: due.length });
      })
      .finally(() => {
        this.#polling = false;
      });
  }

  /** Ends every waiter now (as a timeout): used when the gateway stops. */
  cancelAll(): void {
    for (const set of [...this.#byId.values()]) for (const waiter of [...set]) waiter.resolve(undefined);
    this.#stopTicking();
  }
}
