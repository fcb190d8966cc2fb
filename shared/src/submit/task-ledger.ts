/**
 * The task ledger: what this process (a gateway or a Node client) knows of each task it
 * submitted, waits on or heard of, kept in one place. Every view a caller has of a task goes
 * through it: the waits of `?wait=` and `result()` (ledger-waits.ts), the reads that must never
 * show an earlier state than an answer did, and the writing of results that only a reply
 * carries (a Python Celery worker's). Replies, store polls and PostgreSQL notifications feed it.
 *
 * Each entry moves forward through `LedgerState`, never back:
 *
 *   published    this process published the task and asked for its reply
 *   waiting      someone here waits on (or listens to) the task
 *   final-heard  its final reply came; the worker's commit may still be on its way
 *   committed    the store holds its final state (a poll, a read or a notification saw it)
 *
 * One bound, in bytes (`maxBytes`, estimated from each entry's JSON), and one eviction rule:
 * when over it, the oldest entries nobody waits on or listens to go first. A committed entry
 * nobody waits on is dropped at once: the store answers for it from then on.
 */
import type { TaskOutcome } from '../broker/index.js';
import type { TaskStore } from '../store/index.js';
import type { Logger } from '../core/index.js';
import { isFinalState, stamp, type TaskRecord } from '../core/index.js';
import { DEFAULT_LEDGER_MAX_BYTES, ENTRY_OVERHEAD_BYTES, RANK, entryBytes, withOutcome, type Entry, type LedgerListener, type LedgerState } from './ledger-entry.js';
import { LedgerWaits, type Finished, type LedgerWaitsOptions, type PendingWait, type WaitOptions } from './ledger-waits.js';
import { pendingRecord, resultModeOfSubmission, type Submission } from './submission.js';

export interface TaskLedgerOptions extends LedgerWaitsOptions {
  store: Pick<TaskStore, 'get' | 'getFinished' | 'record' | 'forgetUnpublished'>;
  logger: Logger;
  /** Most bytes the entries may hold (estimated from their JSON); past it, the oldest idle ones go. @default DEFAULT_LEDGER_MAX_BYTES */
  maxBytes?: number;
}

export class TaskLedger {
  /** Insertion order = last transition, so the first entry is the oldest. */
  readonly #entries = new Map<string, Entry>();
  readonly #store: TaskLedgerOptions['store'];
  readonly #logger: Logger;
  readonly #maxBytes: number;
  readonly waits: LedgerWaits;
  #bytes = 0;
  #evicted = 0;

  constructor(options: TaskLedgerOptions) {
    const { store, logger, maxBytes, ...waits } = options;
    this.#store = store;
    this.#logger = logger;
    this.#maxBytes = maxBytes ?? DEFAULT_LEDGER_MAX_BYTES;
    this.waits = new LedgerWaits(
      store,
      logger,
      (record) => this.#committed(record.id, record),
      (id) => this.#idle(id),
      waits,
    );
  }

  /** Entries and their estimated bytes (the gateway's `celerity_ledger_entries` and `celerity_ledger_bytes`). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.#entries.size, bytes: this.#bytes };
  }

  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** The state of task `id` here, or undefined when the ledger holds nothing of it. */
  stateOf(id: string): LedgerState | undefined {
    return this.#entries.get(id)?.state;
  }

  // ---- feeds ----

  /**
   * `submission` is about to be published with this process's reply queue. Its entry keeps the
   * task as submitted, owner and arguments included: a reply that must be recorded here
   * completes it, and a read before any row finds it.
   */
  published(submission: Submission): void {
    const entry = this.#entry(submission.id, 'published');
    entry.task = { ...pendingRecord(submission), owner: submission.owner ?? null };
    // Result mode `none`: no row, ever; not even the one a Python worker's reply would make here.
    const noRow = resultModeOfSubmission(submission) === 'none';
    entry.recordsReply = !noRow;
    if (noRow) entry.noRow = true;
    this.#resize(submission.id, entry);
  }

  /** A reply arrived. Only a final one counts (Celery's rpc:// also sends STARTED and custom states). */
  heard(outcome: TaskOutcome): void {
    if (!isFinalState(outcome.state)) return;
    const entry = this.#entries.get(outcome.id);
    if (!outcome.senderRecords && entry?.recordsReply && entry.task) {
      // Only the reply carries this result (a Python worker's): answered once it is written, so a
      // read right after the answer finds it, with the owner and arguments of the submit.
      const row = withOutcome(entry.task, outcome);
      this.#store.record({ ...row, result: outcome.state === 'SUCCESS' ? (outcome.result ?? null) : null }).then(
        () => this.#finalHeard(outcome, true),
        (err: unknown) => {
          this.#logger.error('could not record the result a reply carried; the task stays unfinished in the store', { taskId: outcome.id, task: row.name, queue: row.queue, state: outcome.state, err });
          this.#finalHeard(outcome, false);
        },
      );
      return;
    }
    this.#finalHeard(outcome, false);
  }

  /** PostgreSQL notified that task `id`'s final state is committed: its waits poll at once, a kept reply is no longer needed. */
  notified(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    if (this.waits.has(id)) this.waits.nudge(id);
    // A listener (an event stream) hears it too: another gateway's task brings no reply here.
    else if (entry.outcome || entry.listeners) this.#committed(id, undefined);
  }

  /** The publish of task `id` failed: no reply will come, and nothing was promised. */
  unpublished(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry || entry.outcome) return;
    // What was kept for the reply goes; a wait still on it ends with the failed submit.
    entry.task = undefined;
    entry.recordsReply = false;
    if (this.waits.has(id) || entry.listeners) this.#resize(id, entry);
    else this.#drop(id, entry);
  }

  // ---- views ----

  /** Registers a wait on task `id`; answered at once when its final reply was heard here. */
  start(id: string, options: WaitOptions): PendingWait {
    const entry = this.#entries.get(id);
    const outcome = entry?.outcome;
    if (entry && outcome && !options.signal?.aborted) {
      if (entry.noRow) this.#committed(id, undefined); // its one wait: see #finalHeard
      return { finished: Promise.resolve({ kind: 'reply', outcome }), cancel: () => undefined };
    }
    const wait = this.waits.start(id, options);
    if (this.waits.has(id)) this.#advance(id, this.#entry(id, 'waiting'), 'waiting');
    return wait;
  }

  /** Resolves with how the task finished, or `undefined` at the deadline, on abort or on `cancelAll()`. */
  wait(id: string, options: WaitOptions): Promise<Finished | undefined> {
    return this.start(id, options).finished;
  }

  /** The final reply heard here for task `id`, while the ledger keeps it. */
  outcomeOf(id: string): TaskOutcome | undefined {
    return this.#entries.get(id)?.outcome;
  }

  /**
   * Task `id` as this process knows it: the store's row when final; else the row (or the task
   * as submitted here, when there is no row yet) with the final reply heard here over it; else
   * the row. Never an earlier state than an answer this process gave.
   */
  async read(id: string): Promise<TaskRecord | undefined> {
    // Looked up before the store is read: an entry dropped because the commit was seen is only
    // missing for reads that start after that commit, which the store then shows.
    const outcome = this.#entries.get(id)?.outcome;
    const task = this.#entries.get(id)?.task;
    const row = await this.#store.get(id);
    if (row && isFinalState(row.state)) {
      this.#committed(id, row);
      return row;
    }
    if (!outcome) return row;
    const base = row ?? task;
    return base ? withOutcome(base, outcome) : undefined;
  }

  /** The record a finished wait on `submission` answers with: the store's, or the submitted task completed from the reply. */
  answer(submission: Submission, finished: Finished): TaskRecord {
    if (finished.kind === 'record') return finished.record;
    const task = this.#entries.get(submission.id)?.task ?? { ...pendingRecord(submission), owner: submission.owner ?? null };
    return withOutcome(task, finished.outcome);
  }

  /**
   * Reports each transition of task `id` to `listener` until the returned function is called.
   * A listened-to entry is never evicted. Listeners must not throw (a throw is logged).
   */
  subscribe(id: string, listener: LedgerListener): () => void {
    const fresh = !this.#entries.has(id);
    const entry = this.#entry(id, 'waiting');
    (entry.listeners ??= new Set()).add(listener);
    if (fresh) listener({ id, state: 'waiting', task: undefined });
    else this.#advance(id, entry, 'waiting');
    return () => {
      entry.listeners?.delete(listener);
      if (entry.listeners?.size === 0) entry.listeners = undefined;
      // An entry made only for listening (another process's task) carries nothing: it goes now.
      if (this.waits.has(id)) this.#evict();
      else this.#idle(id);
    };
  }

  // ---- PENDING rows ----

  /**
   * The one rule for PENDING rows: a row is written when this process answers a submit without
   * the task's end (a 202: the answer promises that a read finds the task), unless the ledger
   * already knows the end here (a later state then needs no PENDING under it). A waited submit
   * writes none up front: when its final reply comes within the wait, the worker writes the whole
   * row, one write instead of two. Never rejects: a failed write is logged (the worker writes the
   * whole row itself when it takes the task), and the store never lets PENDING overwrite a later state.
   * A task whose result mode is not `full` gets none.
   */
  recordPending(submission: Submission): Promise<void> {
    // Result modes `final` and `none` write no PENDING row (shared/src/core/result-mode.ts).
    if (resultModeOfSubmission(submission) !== 'full') return Promise.resolve();
    const state = this.#entries.get(submission.id)?.state;
    if (state === 'final-heard' || state === 'committed') return Promise.resolve();
    return this.#store.record({ ...pendingRecord(submission), owner: submission.owner ?? null }).then(() => stamp(submission.id, 'pending.recorded'), (err: unknown) => {
      this.#logger.warn('could not record the PENDING task; the worker will record it', { taskId: submission.id, task: submission.name, queue: submission.queue, err });
    });
  }

  /** Whether a submit that waits `waitMs` for the end writes its PENDING row with its publish (only one answered at the confirm). */
  pendingAtPublish(waitMs: number): boolean {
    return waitMs === 0;
  }

  /**
   * A publish of `submission` failed, after `recorded` (its PENDING write) settled. The row is
   * removed (nothing was promised: the caller gets 503), except for a re-publish: the task's
   * first publish, whose confirm this process may not have seen, may have been confirmed.
   */
  async forgetUnpublished(submission: Submission, recorded: Promise<void>): Promise<void> {
    this.unpublished(submission.id);
    await recorded;
    if (submission.republish) return;
    await this.#store.forgetUnpublished(submission.id).catch((err: unknown) => {
      this.#logger.warn('could not remove the PENDING row of an unpublished task', { taskId: submission.id, err });
    });
  }

  /** Ends every wait (as a timeout); used when the process stops. */
  cancelAll(): void {
    this.waits.cancelAll();
  }

  /** Forgets everything (after `cancelAll()`, on close). */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  // ---- transitions ----

  #finalHeard(outcome: TaskOutcome, recorded: boolean): void {
    const entry = this.#entry(outcome.id, 'final-heard');
    // The newest final reply wins (a re-run replies again); kept before anyone is answered, so a
    // read right after the answer finds it.
    entry.outcome = outcome;
    this.#advance(outcome.id, entry, 'final-heard');
    // After the state changed: a final reply not yet committed is evicted last.
    this.#touch(outcome.id, entry);
    const answered = this.waits.has(outcome.id);
    this.waits.resolveAll(outcome.id, { kind: 'reply', outcome });
    // A `none` task's reply is all there will ever be: once it answered a wait, nothing here
    // needs it, and reads answer as the store does (no row). Unanswered (a client's `result()`
    // comes after its submit), it is kept for that one wait, or until evicted.
    if (recorded || (entry.noRow && answered)) this.#committed(outcome.id, undefined);
    else this.#evict();
  }

  #committed(id: string, row: TaskRecord | undefined): void {
    const entry = this.#entries.get(id);
    if (row) this.waits.resolveAll(id, { kind: 'record', record: row });
    if (!entry) return;
    this.#advance(id, entry, 'committed', row);
    // The store answers from now on: nobody left here needs the entry.
    if (!this.waits.has(id) && !entry.listeners) this.#drop(id, entry);
  }

  #advance(id: string, entry: Entry, state: LedgerState, row?: TaskRecord): void {
    // Forward only: a late poll or reply never takes a task back to an earlier state.
    if (RANK[state] <= RANK[entry.state]) return;
    entry.state = state;
    if (!entry.listeners) return;
    const task = row ?? (entry.outcome && entry.task ? withOutcome(entry.task, entry.outcome) : entry.task);
    for (const listener of [...entry.listeners]) {
      try {
        listener({ id, state, task });
      } catch (err) {
        this.#logger.warn('a task ledger listener threw', { taskId: id, err });
      }
    }
  }

  /** The entry of task `id`, made in `state` when absent. */
  #entry(id: string, state: LedgerState): Entry {
    let entry = this.#entries.get(id);
    if (!entry) {
      entry = { state, task: undefined, recordsReply: false, outcome: undefined, bytes: ENTRY_OVERHEAD_BYTES + id.length, listeners: undefined };
      this.#entries.set(id, entry);
      this.#bytes += entry.bytes;
    }
    return entry;
  }

  /** Moves `entry` to the newest end (a final reply is what reads need most). */
  #touch(id: string, entry: Entry): void {
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    this.#resize(id, entry);
  }

  #resize(id: string, entry: Entry): void {
    const bytes = entryBytes(id, entry);
    this.#bytes += bytes - entry.bytes;
    entry.bytes = bytes;
    this.#evict();
  }

  /** The last wait on task `id` ended: an entry that holds nothing a read needs goes now. */
  #idle(id: string): void {
    const entry = this.#entries.get(id);
    if (entry && !entry.task && !entry.outcome && !entry.listeners) this.#drop(id, entry);
    this.#evict();
  }

  #drop(id: string, entry: Entry): void {
    if (this.#entries.get(id) !== entry) return;
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
  }

  /**
   * The one eviction rule: over the bound, the oldest entries nobody waits on or listens to go. A final reply
   * not yet committed goes last (a first pass spares it): kept, a read here never shows less than its answer.
   */
  #evict(): void {
    for (const spareFinals of [true, false]) {
      for (const [id, entry] of this.#entries) {
        if (this.#bytes <= this.#maxBytes) return;
        if (entry.listeners || this.waits.has(id) || (spareFinals && entry.state === 'final-heard')) continue;
        this.#drop(id, entry);
        if (entry.recordsReply && !entry.outcome && this.#evicted++ % 1000 === 0) {
          // One line per thousand: a steady stream is worth knowing, not flooding.
          this.#logger.warn('the task ledger forgot a task still awaiting its reply; if a Python worker answers it, its result will not be stored', { taskId: id, maxBytes: this.#maxBytes, evicted: this.#evicted });
        }
      }
    }
  }
}

