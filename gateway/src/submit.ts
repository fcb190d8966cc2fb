/**
 * Task submission: validate a request against the catalogue, publish the task message and
 * wait for the broker's confirm, and record the task as PENDING in the store. The record
 * is written in parallel with the publish (batched with other submits); a failed record
 * does not fail the submit once the broker confirmed, because the worker writes the full
 * row itself when it takes the task.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  CelerityError,
  QUEUE_NAME_RULE,
  checkArguments,
  encodeTaskMessage,
  formatIssues,
  isValidQueueName,
  newTaskMessage,
  type Broker,
  type Catalogue,
  type Logger,
  type Publisher,
  type TaskQueues,
  type TaskRecord,
  type TaskStore,
} from '../../shared/src/index.js';
import type { GatewayMetrics } from './metrics.js';

/** Options that are part of the API but not implemented yet: refused, never ignored. */
const NOT_YET_SUPPORTED = ['countdown', 'eta', 'expires', 'priority', 'maxRetries', 'timeLimit', 'softTimeLimit'] as const;

const optionsSchema = z
  .object({
    queue: z.string().optional(),
    ...Object.fromEntries(NOT_YET_SUPPORTED.map((name) => [name, z.unknown().optional()])),
  })
  .strict();

const bodySchema = z
  .object({
    args: z.array(z.unknown()).optional(),
    kwargs: z.record(z.string(), z.unknown()).optional(),
    options: optionsSchema.optional(),
  })
  .strict();

export interface Submission {
  id: string;
  name: string;
  queue: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  createdAt: Date;
}

export interface SubmitterDeps {
  broker: Broker;
  publisher: Publisher;
  queues: TaskQueues;
  store: TaskStore;
  catalogue: Catalogue;
  metrics: GatewayMetrics;
  logger: Logger;
  /** The reply queue of this process, when connected. */
  replyTo: () => string | undefined;
}

export class Submitter {
  constructor(private readonly deps: SubmitterDeps) {}

  /** Validates a submit request; throws a CelerityError naming what is wrong. */
  prepare(name: string, body: unknown): Submission {
    const task = this.deps.catalogue.get(name);
    if (!task) throw new CelerityError('UNKNOWN_TASK', `Unknown task "${name}"`);
    const parsed = bodySchema.safeParse(body ?? {});
    if (!parsed.success) {
      throw new CelerityError('INVALID_REQUEST', `Invalid request body: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
    }
    const options = parsed.data.options ?? {};
    for (const option of NOT_YET_SUPPORTED) {
      if ((options as Record<string, unknown>)[option] !== undefined) {
        throw new CelerityError('OPTION_NOT_SUPPORTED', `The option "${option}" is not supported yet; remove it from options`);
      }
    }
    const queue = options.queue ?? task.queue;
    if (!isValidQueueName(queue)) {
      throw new CelerityError('INVALID_QUEUE', `Invalid queue name "${queue}": ${QUEUE_NAME_RULE}`);
    }
    const check = checkArguments(task, parsed.data.args ?? [], parsed.data.kwargs ?? {});
    if (!check.ok) throw new CelerityError('INVALID_ARGUMENTS', `Invalid arguments for ${name}: ${formatIssues(check.issues)}`);
    return { id: randomUUID(), name, queue, args: check.args, kwargs: check.kwargs, createdAt: new Date() };
  }

  /** Publishes (resolving after the broker's confirm) and records the task as PENDING. */
  async submit(submission: Submission, options: { wantReply: boolean }): Promise<void> {
    const { broker, publisher, queues, store, metrics, logger } = this.deps;
    const connection = broker.connection;
    if (!connection) throw new CelerityError('BROKER_UNAVAILABLE', 'Not connected to the broker', { retryAfterS: 2 });
    if (!queues.has(submission.queue)) {
      try {
        await queues.ensure(connection, submission.queue);
      } catch (err) {
        throw new CelerityError('QUEUE_UNAVAILABLE', `Could not declare queue "${submission.queue}"`, { cause: err, retryAfterS: 5 });
      }
    }
    const replyTo = options.wantReply ? this.deps.replyTo() : undefined;
    const message = encodeTaskMessage(
      newTaskMessage({ id: submission.id, name: submission.name, args: submission.args, kwargs: submission.kwargs, replyTo: replyTo ?? null }),
    );
    const recorded = store
      .record({
        id: submission.id,
        name: submission.name,
        queue: submission.queue,
        state: 'PENDING',
        args: submission.args,
        kwargs: submission.kwargs,
        createdAt: submission.createdAt,
      })
      .catch((err: unknown) => {
        logger.warn('could not record the PENDING task; the worker will record it', {
          taskId: submission.id,
          task: submission.name,
          queue: submission.queue,
          err,
        });
      });
    const started = process.hrtime.bigint();
    try {
      await publisher.publish('', submission.queue, message.content, { ...message.options, correlationId: submission.id });
    } catch (err) {
      if (err instanceof CelerityError && err.code === 'QUEUE_UNAVAILABLE') queues.forget(submission.queue);
      // Nothing was promised to the caller (it gets 503 and may submit again), so the
      // PENDING row must not suggest otherwise.
      logger.warn('publish failed', { taskId: submission.id, task: submission.name, queue: submission.queue, err });
      await recorded;
      await store.forgetUnpublished(submission.id).catch((cleanupErr: unknown) => {
        logger.warn('could not remove the PENDING row of an unpublished task', { taskId: submission.id, err: cleanupErr });
      });
      throw err;
    } finally {
      metrics.publishConfirmDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
    metrics.tasksSubmitted.inc({ task: submission.name, queue: submission.queue });
    await recorded;
    if (logger.isLevelEnabled('debug')) logger.debug('task submitted', { taskId: submission.id, task: submission.name, queue: submission.queue });
  }

  /**
   * Submits many tasks at once (the batch endpoint). New queues are declared first, so a
   * refused declaration fails the whole batch before anything is published. Then every
   * `submit()` starts in the same tick: the publishes are pipelined in the publisher's
   * unconfirmed window (no confirm is awaited before the next publish) and the PENDING rows
   * join one group commit. Resolves with each submission's outcome, in order.
   */
  async submitMany(submissions: readonly Submission[]): Promise<PromiseSettledResult<void>[]> {
    const { broker, queues } = this.deps;
    for (const queue of new Set(submissions.map((s) => s.queue))) {
      const connection = broker.connection;
      if (!connection) throw new CelerityError('BROKER_UNAVAILABLE', 'Not connected to the broker', { retryAfterS: 2 });
      if (queues.has(queue)) continue;
      try {
        await queues.ensure(connection, queue);
      } catch (err) {
        throw new CelerityError('QUEUE_UNAVAILABLE', `Could not declare queue "${queue}"`, { cause: err, retryAfterS: 5 });
      }
    }
    return Promise.allSettled(submissions.map((submission) => this.submit(submission, { wantReply: false })));
  }
}

export function pendingRecord(submission: Submission): TaskRecord {
  return {
    id: submission.id,
    name: submission.name,
    queue: submission.queue,
    state: 'PENDING',
    args: submission.args,
    kwargs: submission.kwargs,
    retries: 0,
    createdAt: submission.createdAt,
  };
}
