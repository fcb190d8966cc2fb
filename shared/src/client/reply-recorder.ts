/**
 * Results that only a reply carries. A Celerity worker records a task's outcome in the store
 * itself, just after it replies (its replies say so, `senderRecords`); a Python Celery worker's
 * `rpc://` backend only replies. So the gateway writes the final replies whose sender does not
 * record them, for the tasks it published with its `reply_to` — the only replies it can
 * receive. Replies from Celerity workers cost no database write here.
 *
 * The store needs a task's name and queue, which a reply does not carry, so each task published
 * with a reply queue is remembered (id → name, queue) until its final reply comes. The map is
 * bounded: a reply that never comes (its worker died, or the reply queue was lost in a
 * reconnect) costs one entry until newer ones push it out.
 */
import type { Logger } from '../logger.js';
import type { TaskOutcome } from '../amqp/protocol.js';
import type { TaskStore } from '../db/store.js';
import { isFinalState } from '../task.js';

interface Expected {
  name: string;
  queue: string;
}

export interface ReplyRecorderOptions {
  store: TaskStore;
  logger: Logger;
  /** Tasks remembered while their replies are due. @default 100000 */
  maxExpected?: number;
}

export class ReplyRecorder {
  readonly #store: TaskStore;
  readonly #logger: Logger;
  readonly #max: number;
  /** Insertion order = publish order, so the first key is the oldest. */
  readonly #expected = new Map<string, Expected>();
  #evicted = 0;

  constructor(options: ReplyRecorderOptions) {
    this.#store = options.store;
    this.#logger = options.logger;
    this.#max = options.maxExpected ?? 100_000;
  }

  get size(): number {
    return this.#expected.size;
  }

  /** A task is about to be published with this process's reply queue. */
  expect(task: { id: string; name: string; queue: string }): void {
    this.#expected.set(task.id, { name: task.name, queue: task.queue });
    if (this.#expected.size > this.#max) {
      const oldest = this.#expected.keys().next().value;
      if (oldest !== undefined) this.#expected.delete(oldest);
      // One line per thousand: a steady stream of lost replies is worth knowing, not flooding.
      if (this.#evicted++ % 1000 === 0) {
        this.#logger.warn('forgot the oldest task still awaiting a reply; if a Python worker answers it, its result will not be stored', {
          taskId: oldest,
          maxExpected: this.#max,
          evicted: this.#evicted,
        });
      }
    }
  }

  /** The publish failed: no reply will come. */
  forget(id: string): void {
    this.#expected.delete(id);
  }

  /**
   * Handles one reply, then hands it to `deliver` (the waiters). A reply that must be recorded
   * is delivered once the write is committed (or failed), so a client answered from it reads the
   * same result from `GET /api/v1/tasks/:id` right after.
   */
  onReply(outcome: TaskOutcome, deliver: (outcome: TaskOutcome) => void): void {
    if (!isFinalState(outcome.state)) {
      deliver(outcome);
      return;
    }
    const expected = this.#expected.get(outcome.id);
    this.#expected.delete(outcome.id);
    if (outcome.senderRecords || !expected) {
      deliver(outcome);
      return;
    }
    this.#store
      .record({
        id: outcome.id,
        name: expected.name,
        queue: expected.queue,
        state: outcome.state,
        result: outcome.state === 'SUCCESS' ? (outcome.result ?? null) : null,
        error: outcome.error ?? null,
        retries: outcome.retries ?? 0,
        worker: outcome.worker ?? null,
        startedAt: outcome.startedAt ?? null,
        finishedAt: outcome.finishedAt,
      })
      .then(
        () => {
          if (this.#logger.isLevelEnabled('debug')) {
            this.#logger.debug('recorded a result from a non-Celerity worker', { taskId: outcome.id, task: expected.name, queue: expected.queue, state: outcome.state });
          }
        },
        (err: unknown) => {
          this.#logger.error('could not record the result a reply carried; the task stays unfinished in the store', {
            taskId: outcome.id,
            task: expected.name,
            queue: expected.queue,
            state: outcome.state,
            err,
          });
        },
      )
      .finally(() => deliver(outcome));
  }
}
