/**
 * One run of one task's reports: `ctx.progress`, `ctx.stream` and its `ctx.logger` lines become
 * entries of the task's event log (TaskLog), each published on the task-events exchange once
 * stored. Never throws into the task: bad input is clamped or refused with a line in the task's
 * own log, and a store or broker failure drops the entry (logged and counted), the task goes on.
 *
 * Progress is throttled to one report per PROGRESS_INTERVAL_MS; a report inside the interval
 * replaces the waiting one, which goes out when the interval ends (so the last report of a
 * burst is never lost). At most one append is in flight per task: entries queued meanwhile go
 * in the next batch, in order, so sequence numbers follow the order the task reported in.
 */
import {
  MAX_LOG_LINE_CHARS,
  MAX_OUTPUT_CHUNK_CHARS,
  MAX_PROGRESS_MESSAGE_CHARS,
  MAX_TASK_EVENTS,
  PROGRESS_INTERVAL_MS,
  type Logger,
  type ProgressData,
  type TaskEvent,
  type TaskFeedMessage,
} from '../../../shared/src/core/index.js';
import type { NewTaskEvent, TaskLog } from '../../../shared/src/store/index.js';

/** Entries appended in one statement at most. */
const MAX_BATCH = 100;

type ReportOutcome = 'stored' | 'dropped' | 'refused';

export interface TaskReporterDeps {
  store: Pick<TaskLog, 'append' | 'setProgress' | 'tail'>;
  publish: (message: TaskFeedMessage) => void;
  /** The worker's logger for this task (its lines carry the task id). */
  log: Logger;
  /** Counts each report by kind and outcome. */
  count: (kind: NewTaskEvent['kind'], outcome: ReportOutcome) => void;
}

export class TaskReporter {
  readonly #taskId: string;
  readonly #deps: TaskReporterDeps;
  readonly #queue: NewTaskEvent[] = [];
  #tail: { count: number; last: number } | undefined;
  #full = false;
  #draining: Promise<void> | undefined;
  #lastProgressAt = Number.NEGATIVE_INFINITY;
  #waitingProgress: ProgressData | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(taskId: string, deps: TaskReporterDeps) {
    this.#taskId = taskId;
    this.#deps = deps;
  }

  /** `ctx.progress(fraction, message?)`. */
  progress(fraction: unknown, message?: unknown): void {
    if (typeof fraction !== 'number' || Number.isNaN(fraction)) {
      this.#complain('error', `ctx.progress: the fraction must be a number from 0 to 1, got ${describe(fraction)}; the report is ignored`);
      this.#deps.count('progress', 'refused');
      return;
    }
    const clamped = Math.min(1, Math.max(0, fraction));
    if (clamped !== fraction) this.#complain('warn', `ctx.progress: the fraction ${fraction} is outside 0..1; reported as ${clamped}`);
    let text: string | undefined;
    if (message !== undefined && message !== null) {
      if (typeof message !== 'string') {
        this.#complain('warn', `ctx.progress: the message must be a string, got ${describe(message)}; reported without it`);
      } else if (message.length > MAX_PROGRESS_MESSAGE_CHARS) {
        this.#complain('warn', `ctx.progress: the message has ${message.length} characters, more than ${MAX_PROGRESS_MESSAGE_CHARS}; cut to ${MAX_PROGRESS_MESSAGE_CHARS}`);
        text = message.slice(0, MAX_PROGRESS_MESSAGE_CHARS);
      } else {
        text = message;
      }
    }
    const data: ProgressData = { fraction: clamped, ...(text !== undefined ? { message: text } : {}) };
    if (this.#closed) return;
    const now = Date.now();
    if (now - this.#lastProgressAt >= PROGRESS_INTERVAL_MS && !this.#timer) {
      this.#lastProgressAt = now;
      this.#enqueue({ kind: 'progress', data });
      return;
    }
    this.#waitingProgress = data;
    this.#timer ??= setTimeout(() => this.#sendWaitingProgress(), Math.max(0, this.#lastProgressAt + PROGRESS_INTERVAL_MS - now));
  }

  /** `ctx.stream(chunk)`. */
  stream(chunk: unknown): void {
    if (typeof chunk !== 'string') {
      this.#complain('error', `ctx.stream: a chunk must be a string, got ${describe(chunk)}; the chunk is ignored`);
      this.#deps.count('output', 'refused');
      return;
    }
    if (chunk.length > MAX_OUTPUT_CHUNK_CHARS) {
      this.#complain('error', `ctx.stream: a chunk has ${chunk.length} characters, more than ${MAX_OUTPUT_CHUNK_CHARS}; the chunk is ignored (send it in smaller chunks)`);
      this.#deps.count('output', 'refused');
      return;
    }
    if (chunk.length === 0 || this.#closed) return;
    this.#enqueue({ kind: 'output', data: { chunk } });
  }

  /** One line of the task's `ctx.logger`, already written to the worker's log. */
  line(level: string, message: string): void {
    if (this.#closed) return;
    const text = message.length > MAX_LOG_LINE_CHARS ? `${message.slice(0, MAX_LOG_LINE_CHARS)}…` : message;
    this.#enqueue({ kind: 'log', data: { level, message: text } });
  }

  /** The task ended: sends the waiting progress report, waits for every entry to be stored and published. */
  async close(): Promise<void> {
    if (this.#timer) this.#sendWaitingProgress();
    this.#closed = true;
    while (this.#draining) await this.#draining;
  }

  /** A problem with the task's own report: a line in the worker's log and one in the task's log. */
  #complain(level: 'warn' | 'error', message: string): void {
    this.#deps.log.log(level, message);
    this.line(level, message);
  }

  #sendWaitingProgress(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const data = this.#waitingProgress;
    this.#waitingProgress = undefined;
    if (!data) return;
    this.#lastProgressAt = Date.now();
    this.#enqueue({ kind: 'progress', data });
  }

  #enqueue(entry: NewTaskEvent): void {
    this.#queue.push(entry);
    this.#draining ??= this.#drain()
      .catch((err: unknown) => {
        this.#deps.log.warn('could not store the task\'s reports', { err });
      })
      .finally(() => (this.#draining = undefined));
  }

  async #drain(): Promise<void> {
    this.#tail ??= await this.#deps.store.tail(this.#taskId).catch((err: unknown) => {
      this.#dropAll(err);
      return undefined;
    });
    if (!this.#tail) return;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      await this.#append(this.#tail, batch);
    }
  }

  async #append(tail: { count: number; last: number }, batch: NewTaskEvent[]): Promise<void> {
    const progress = lastProgress(batch);
    if (!this.#full && tail.count >= MAX_TASK_EVENTS) this.#full = true; // an earlier attempt filled it
    if (this.#full) {
      for (const entry of batch) this.#deps.count(entry.kind, 'dropped');
      if (progress) await this.#deps.store.setProgress(this.#taskId, progress).catch((err: unknown) => this.#deps.log.warn('could not store the task\'s progress', { err }));
      return;
    }
    const room = MAX_TASK_EVENTS - tail.count;
    let kept = batch;
    if (batch.length >= room) {
      // The entry that reaches the bound says so; what comes after is dropped.
      kept = [...batch.slice(0, Math.max(0, room - 1)), { kind: 'log', data: { level: 'warn', message: `this task's event log is full (${MAX_TASK_EVENTS} entries): later progress, output and log lines are not kept` } }];
      for (const entry of batch.slice(kept.length - 1)) this.#deps.count(entry.kind, 'dropped');
      this.#full = true;
      this.#deps.log.warn('the task\'s event log is full: later reports are dropped', { maxEntries: MAX_TASK_EVENTS });
    }
    let seqs: number[];
    try {
      seqs = await this.#deps.store.append(this.#taskId, kept, progress);
    } catch (err) {
      this.#deps.log.warn('could not store the task\'s reports; they are dropped', { entries: kept.length, err });
      for (const entry of kept) this.#deps.count(entry.kind, 'dropped');
      return;
    }
    tail.count += kept.length;
    const at = new Date().toISOString();
    kept.forEach((entry, i) => {
      const seq = seqs[i];
      if (seq === undefined) return;
      this.#deps.publish({ taskId: this.#taskId, prev: tail.last, event: { seq, kind: entry.kind, data: entry.data, at } as TaskEvent });
      tail.last = seq;
      this.#deps.count(entry.kind, 'stored');
    });
  }

  #dropAll(err: unknown): void {
    this.#deps.log.warn('could not read the task\'s event log; its reports are dropped', { err });
    for (const entry of this.#queue.splice(0)) this.#deps.count(entry.kind, 'dropped');
  }
}

function lastProgress(batch: readonly NewTaskEvent[]): ProgressData | undefined {
  for (let i = batch.length - 1; i >= 0; i--) if (batch[i]?.kind === 'progress') return batch[i]?.data as ProgressData;
  return undefined;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}
