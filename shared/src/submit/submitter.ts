/**
 * Task submission: publish the task message and wait for the broker's confirm, and record the
 * task as PENDING in the store when the task ledger's rule says so (task-ledger.ts). The record
 * is written in parallel with the publish (batched with other submits); a failed record does
 * not fail the submit once the broker confirmed, because the worker writes the full row itself
 * when it takes the task. The gateway's routes and the Node client both submit through here.
 */
import { randomUUID } from 'node:crypto';
import {
  CelerityError,
  MAX_RETRIES_HEADER,
  REPUBLISHED_HEADER,
  RESULT_MODE_HEADER,
  Slots,
  stamp,
} from '../core/index.js';
import type { Broker, DeclaredQueues, Publisher } from '../broker/index.js';
import {
  DELAY_HEADER,
  delayedTarget,
  delayLevelFor,
  encodeTaskMessage,
  newTaskMessage,
  OWNER_HEADER,
  publishTimeHeaders,
  taskTarget,
} from '../broker/index.js';
import type { Catalogue } from '../app/index.js';
import type { HeaderFormat, Logger } from '../core/index.js';
import { prepareSubmission, type Submission } from './submission.js';
import type { TaskLedger } from './task-ledger.js';

/** What the submitter reports to (the gateway's Prometheus metrics); structural, so any registry fits. */
export interface SubmitMetrics {
  /** Observes seconds from publish to the broker's confirm (or failure). */
  publishConfirmDuration: { observe(seconds: number): void };
  /** Counts tasks whose publish the broker confirmed. */
  tasksSubmitted: { inc(labels: { task: string; queue: string }): void };
}

/** Per-queue admission control (the gateway's QUEUE_MAX_LENGTH). */
export interface SubmitLimits {
  /** Throws (QUEUE_FULL) when `queue` may take no more messages. */
  check(queue: string): void;
  /** A publish to `queue` was confirmed. */
  notePublished(queue: string): void;
}

export interface SubmitterDeps {
  broker: Broker;
  publisher: Publisher;
  queues: DeclaredQueues;
  catalogue: Catalogue;
  logger: Logger;
  /** The reply queue of this process, when connected. */
  replyTo: () => string | undefined;
  /** Delay queues declared so far (countdown / eta). */
  delayQueues: DeclaredQueues;
  /** @default none */
  metrics?: SubmitMetrics;
  /** Per-queue maximum length; no limit when absent. */
  limits?: SubmitLimits;
  /** Largest args + kwargs of one task, as JSON bytes (413 ARGUMENTS_TOO_LARGE). @default no limit */
  maxArgsBytes?: number;
  /**
   * The task ledger: told of each task published with this process's reply queue (it records
   * the results no Celerity worker records, a Python Celery worker's), and the one place that
   * writes and removes PENDING rows.
   */
  ledger: Pick<TaskLedger, 'published' | 'recordPending' | 'forgetUnpublished'>;
  /**
   * Most submits between building their message and the broker's confirm at once; more wait
   * their turn, in arrival order (shared/src/core/slots.ts). @default DEFAULT_MAX_SUBMITS_IN_FLIGHT
   */
  maxSubmitsInFlight?: number;
  /** MESSAGE_HEADERS: Celery's every header, or only those a Celerity worker reads. @default 'celery' */
  headerFormat?: HeaderFormat;
}

/**
 * 256 submits in flight: far more than the broker needs to keep its confirms flowing (at the
 * 2 to 20 ms a confirm takes here, 256 at once allow 13,000 to 128,000 submits a second, past
 * what one gateway's CPU serves), and a quarter of the publisher's unconfirmed window (1,000),
 * so a submit never also waits for a window slot. Each costs a few KB while under way.
 */
const DEFAULT_MAX_SUBMITS_IN_FLIGHT = 256;

/** How `submit()` publishes one task. */
interface SubmitOptions {
  /** Name this process's reply queue as the task's `reply_to`. */
  wantReply: boolean;
  /** Write the PENDING row with the publish. @default true */
  recordPending?: boolean;
}

export class Submitter {
  readonly #slots: Slots;

  constructor(private readonly deps: SubmitterDeps) {
    this.#slots = new Slots(deps.maxSubmitsInFlight ?? DEFAULT_MAX_SUBMITS_IN_FLIGHT);
  }

  /** Submits holding a slot, and submits waiting for one. */
  get inFlight(): { publishing: number; queued: number } {
    return { publishing: this.#slots.held, queued: this.#slots.waiting };
  }

  /** The tasks this submitter accepts (what the gateway's OpenAPI document describes). */
  get catalogue(): Catalogue {
    return this.deps.catalogue;
  }

  /** Validates a submit of a task of the catalogue by name; throws a CelerityError naming what is wrong. */
  prepare(name: string, body: unknown, checkArgs = true): Submission {
    const task = this.deps.catalogue.get(name);
    if (!task) throw new CelerityError('UNKNOWN_TASK', `Unknown task "${name}"`);
    return prepareSubmission(task, body, this.deps.maxArgsBytes, checkArgs);
  }

  /**
   * Publishes (resolving after the broker's confirm) and records the task as PENDING, unless
   * `recordPending` is false: a waited submit writes PENDING only if the wait ends without the
   * task's end (`TaskLedger.recordPending`), so a round trip answered from its reply costs no PENDING row.
   * Waits first, when the bound on submits in flight is reached, until an earlier one is confirmed.
   */
  async submit(submission: Submission, options: SubmitOptions): Promise<void> {
    const release = this.#slots.tryAcquire() ?? (await this.#slots.acquire());
    let published: { recorded: Promise<void> };
    try {
      published = await this.#publish(submission, options);
    } finally {
      release();
    }
    // The slot is back once the broker confirmed; the PENDING row's group commit may come after.
    await published.recorded;
    const { logger } = this.deps;
    if (logger.isLevelEnabled('debug')) logger.debug('task submitted', { taskId: submission.id, task: submission.name, queue: submission.queue });
  }

  /** The publish of `submit()`, holding a slot; resolves once confirmed, with the PENDING row's write. */
  async #publish(submission: Submission, options: SubmitOptions): Promise<{ recorded: Promise<void> }> {
    const { broker, publisher, queues, ledger, metrics, logger } = this.deps;
    if (!broker.connected) throw new CelerityError('BROKER_UNAVAILABLE', 'Not connected to the broker', { retryAfterS: 2 });
    this.deps.limits?.check(submission.queue);
    // A task that must wait goes through the broker's delay queues (shared/src/broker/delay.ts).
    // Either target fails on a return: nothing was promised yet, the caller may submit again.
    const delayMs = submission.eta ? submission.eta.getTime() - Date.now() : 0;
    const level = delayMs > 0 ? delayLevelFor(delayMs) : undefined;
    const target = level === undefined ? taskTarget(queues, submission.queue) : delayedTarget(this.deps.delayQueues, level, submission.queue, 'fail', queues);
    // Declared before anything else: a refused declaration leaves no PENDING row to undo.
    await publisher.declare(target);
    // A task run elsewhere (a Python Celery worker) records nothing itself: its reply is the only
    // way its result reaches the store, so ask for one even when nobody waits.
    const replyTo = options.wantReply || submission.external ? this.deps.replyTo() : undefined;
    if (replyTo) ledger.published(submission);
    const task = newTaskMessage({
      id: submission.id,
      name: submission.name,
      args: submission.args,
      kwargs: submission.kwargs,
      replyTo: replyTo ?? null,
      ...submission.celery,
      ...(submission.canvas ? { canvas: submission.canvas } : {}),
    });
    if (submission.eta) task.eta = submission.eta.toISOString();
    if (submission.timeLimitS !== undefined || submission.softTimeLimitS !== undefined) {
      task.timelimit = [submission.timeLimitS ?? null, submission.softTimeLimitS ?? null];
    }
    const message = encodeTaskMessage(task, this.deps.headerFormat);
    const headers: Record<string, unknown> = { ...(message.options.headers as Record<string, unknown> | undefined) };
    if (submission.maxRetries !== undefined) headers[MAX_RETRIES_HEADER] = submission.maxRetries;
    if (submission.republish) headers[REPUBLISHED_HEADER] = true;
    if (submission.owner) headers[OWNER_HEADER] = submission.owner;
    if (submission.result !== undefined) headers[RESULT_MODE_HEADER] = submission.result;
    if (level !== undefined) headers[DELAY_HEADER] = String(level);
    const recorded = options.recordPending === false ? Promise.resolve() : ledger.recordPending(submission);
    const started = process.hrtime.bigint();
    stamp(submission.id, 'publish');
    try {
      await publisher.publish(target, {
        content: message.content,
        options: {
          ...message.options,
          headers: { ...headers, ...publishTimeHeaders() },
          // Unique per publish: the publisher tells a returned message by its correlation id, so a
          // republish of the same task must not share the first publish's (Celery peers read the
          // task id from the `id` header and the result body, never from here).
          correlationId: submission.republish ? `${submission.id}.${randomUUID()}` : submission.id,
        },
      });
    } catch (err) {
      logger.warn('publish failed', { taskId: submission.id, task: submission.name, queue: submission.queue, err });
      // Nothing was promised to the caller (it gets 503 and may submit again): the ledger
      // removes the PENDING row, unless an earlier publish of the task may own it.
      await ledger.forgetUnpublished(submission, recorded);
      throw err;
    } finally {
      metrics?.publishConfirmDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
    stamp(submission.id, 'confirm');
    metrics?.tasksSubmitted.inc({ task: submission.name, queue: submission.queue });
    this.deps.limits?.notePublished(submission.queue);
    return { recorded };
  }

  /**
   * Submits many tasks at once (the batch endpoint). New queues are declared first, so a
   * refused declaration fails the whole batch before anything is published. Then every
   * `submit()` starts in the same tick: the publishes are pipelined in the publisher's
   * unconfirmed window (no confirm is awaited before the next publish) and the PENDING rows
   * join one group commit. Resolves with each submission's outcome, in order.
   */
  async submitMany(submissions: readonly Submission[], options: { wantReply: boolean } = { wantReply: false }): Promise<PromiseSettledResult<void>[]> {
    const { broker, publisher, queues } = this.deps;
    for (const queue of new Set(submissions.map((s) => s.queue))) {
      if (!broker.connected) throw new CelerityError('BROKER_UNAVAILABLE', 'Not connected to the broker', { retryAfterS: 2 });
      await publisher.declare(taskTarget(queues, queue));
    }
    return Promise.allSettled(submissions.map((submission) => this.submit(submission, options)));
  }
}
