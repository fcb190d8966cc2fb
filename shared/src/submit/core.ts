/**
 * The submit and wait path, assembled once for every process that submits tasks: the
 * gateway (its HTTP routes are a thin layer over this) and the Node client. It holds the
 * topology of the task queues, the confirm publisher, the reply queue and its listener, the
 * task ledger (task-ledger.ts: the waits, the reads that keep in step with answers, the results
 * only a reply carries, the PENDING rule), and the idempotency flow.
 *
 * The broker connection and the database pool belong to the caller (the gateway shares them
 * with its dashboard and API keys); `close()` releases only what the core opened.
 */
import type pg from 'pg';
import type { Broker } from '../broker/index.js';
import { type DeclaredQueues, DeclaredTopology, Publisher } from '../broker/index.js';
import type { HeaderFormat, Logger, QueueTypes, TaskRecord } from '../core/index.js';
import type { Catalogue } from '../app/index.js';
import { DEFAULTS } from '../config/index.js';
import { IdempotencyKeys, TaskStore } from '../store/index.js';
import { shutdownSteps } from '../core/index.js';
import { IdempotentSubmits } from './idempotent-submits.js';
import type { LedgerWaits } from './ledger-waits.js';
import { ReplyListener } from './reply-listener.js';
import type { Revoker } from './revoker.js';
import type { Submission } from './submission.js';
import { submitTask, type SubmitAnswer, type SubmitCall } from './submit-flow.js';
import { Submitter, type SubmitLimits, type SubmitMetrics } from './submitter.js';
import { TaskLedger } from './task-ledger.js';

export interface ClientCoreOptions {
  broker: Broker;
  pool: pg.Pool;
  logger: Logger;
  /** The tasks known by name: their queues are declared on every (re)connect. */
  catalogue: Catalogue;
  /** Task queues this process declares; pass one to share it (the gateway's queue stats list it). @default a new set */
  queues?: DeclaredQueues;
  /** @default none */
  metrics?: SubmitMetrics;
  /** @default no limit */
  limits?: SubmitLimits;
  /** Largest args + kwargs of one task, as JSON bytes. @default no limit */
  maxArgsBytes?: number;
  /** How long an idempotency key returns the same task, in ms. @default 24 h */
  idempotencyWindowMs?: number;
  /** Start of the reply queue's name. @default 'celerity.reply.' */
  replyQueuePrefix?: string;
  /** QUEUE_TYPES: which task queues are quorum queues. Ignored when `queues` is given. @default every queue classic */
  queueTypes?: QueueTypes;
  /** How often a wait polls the store, in ms (tests stretch it). @default { min: 200, max: 1000 } */
  waitPollMs?: { min: number; max: number };
  /** MESSAGE_HEADERS: which headers submitted task messages carry. @default 'celery' */
  headerFormat?: HeaderFormat;
  /** Most bytes the task ledger holds (task-ledger.ts). @default DEFAULT_LEDGER_MAX_BYTES (32 MiB) */
  ledgerMaxBytes?: number;
  /** Revokes the waiting task a debounce replaces (the caller's, which it closes). @default none: debounce submits are refused */
  revoker?: Pick<Revoker, 'revoke'>;
}

export class ClientCore {
  #closing: Promise<void> | undefined;

  private constructor(
    readonly broker: Broker,
    readonly catalogue: Catalogue,
    readonly store: TaskStore,
    /** What this process knows of each task it submitted, waits on or heard of (task-ledger.ts). */
    readonly ledger: TaskLedger,
    readonly queues: DeclaredQueues,
    readonly submitter: Submitter,
    readonly replies: ReplyListener,
    readonly idempotency: IdempotentSubmits,
    readonly idempotencyKeys: IdempotencyKeys,
    readonly publisher: Publisher,
    private readonly logger: Logger,
    /** Revokes the waiting task a debounce replaces (submit-flow.ts). */
    readonly revoker: Pick<Revoker, 'revoke'> | undefined,
  ) {}

  static async create(options: ClientCoreOptions): Promise<ClientCore> {
    const { broker, pool, logger, catalogue } = options;
    const store = new TaskStore(pool, { logger });
    const ledger = new TaskLedger({
      store,
      logger,
      ...(options.ledgerMaxBytes !== undefined ? { maxBytes: options.ledgerMaxBytes } : {}),
      ...(options.waitPollMs ? { minPollMs: options.waitPollMs.min, maxPollMs: options.waitPollMs.max } : {}),
    });
    // The catalogue's queues are declared on every (re)connect, before anything is published,
    // so a task submitted before any worker started is kept, not dropped.
    const topology = await DeclaredTopology.create(broker, {
      logger,
      connectQueues: catalogue.defaultQueues(),
      queueTypes: catalogue.queueTypes(options.queueTypes),
      ...(options.queues ? { taskQueues: options.queues } : {}),
    });
    const { taskQueues: queues, delayQueues } = topology;
    const publisher = await Publisher.create(broker, { logger });
    let replies: ReplyListener | undefined;
    try {
      replies = await ReplyListener.create(broker, {
        logger,
        onOutcome: (outcome) => ledger.heard(outcome),
        ...(options.replyQueuePrefix ? { queuePrefix: options.replyQueuePrefix } : {}),
      });
      const listener = replies;
      const submitter = new Submitter({
        broker,
        publisher,
        queues,
        delayQueues,
        catalogue,
        logger,
        replyTo: () => listener.replyTo,
        ledger,
        ...(options.metrics ? { metrics: options.metrics } : {}),
        ...(options.limits ? { limits: options.limits } : {}),
        ...(options.maxArgsBytes !== undefined ? { maxArgsBytes: options.maxArgsBytes } : {}),
        ...(options.headerFormat ? { headerFormat: options.headerFormat } : {}),
      });
      const keys = new IdempotencyKeys(pool, options.idempotencyWindowMs ?? DEFAULTS.idempotencyWindowHours * 3_600_000);
      return new ClientCore(broker, catalogue, store, ledger, queues, submitter, replies, new IdempotentSubmits(keys, logger), keys, publisher, logger, options.revoker);
    } catch (err) {
      await replies?.close();
      await publisher.close();
      throw err;
    }
  }

  /**
   * Submits one validated task: the idempotency flow when `call` has a key (or the dedupe flow
   * when the submission has `dedupe`), the publish, and a
   * wait for its end when asked (submit-flow.ts). Rejects with a CelerityError when nothing was
   * promised (the broker refused or is gone, the key was reused for other content).
   */
  submit(submission: Submission, call?: SubmitCall): Promise<SubmitAnswer> {
    return submitTask(this, submission, call);
  }

  /**
   * Task `id` as this process knows it (TaskLedger.read): the store's row, or, while the
   * worker's commit is still to land, that row (or the task as submitted here) with the final
   * reply heard here over it. Undefined when neither has it.
   */
  read(id: string): Promise<TaskRecord | undefined> {
    return this.ledger.read(id);
  }

  /** The waits on the ledger: how many there are (`size`), and `cancelAll()` for a drain. */
  get waiters(): LedgerWaits {
    return this.ledger.waits;
  }

  /**
   * Ends every waiter (as a timeout), flushes the PENDING rows, and closes the reply queue and
   * the publisher; every step runs even when one fails, and the first failure is thrown after.
   * Safe to call twice: the second caller gets the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.ledger.cancelAll();
    this.ledger.clear();
    const steps = shutdownSteps(this.logger, 'shutdown');
    const step = steps.run;
    await step('flushing the result store', () => this.store.idle());
    await step('closing the reply queue', () => this.replies.close());
    await step('closing the publisher', () => this.publisher.close());
    steps.throwIfFailed('closing the submit path');
  }
}
