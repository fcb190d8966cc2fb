/**
 * Task submission: validate a request against the catalogue, publish the task message and
 * wait for the broker's confirm, and record the task as PENDING in the store. The record
 * is written in parallel with the publish (batched with other submits); a failed record
 * does not fail the submit once the broker confirmed, because the worker writes the full
 * row itself when it takes the task.
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  CelerityError,
  DELAY_EXCHANGE,
  DELAY_HEADER,
  MAX_RETRIES_HEADER,
  MAX_RETRIES_LIMIT,
  OWNER_HEADER,
  REPUBLISHED_HEADER,
  QUEUE_NAME_RULE,
  assertStorableArguments,
  checkArguments,
  delayLevelFor,
  delayQueueName,
  encodeTaskMessage,
  formatIssues,
  isValidQueueName,
  newTaskMessage,
  publishTimeHeaders,
  type Broker,
  type Catalogue,
  type Logger,
  type Publisher,
  type TaskQueues,
  type TaskRecord,
  type TaskStore,
} from '../../shared/src/index.js';
import type { QueueLimits } from './backpressure.js';
import { celeryOptionsSchema, resolveCeleryOptions, type CeleryOptions } from './celery-options.js';
import type { GatewayMetrics } from './metrics.js';
import type { ReplyRecorder } from './reply-recorder.js';

/** Longest `countdown`, and furthest `eta`, accepted: 30 days, in seconds. */
const MAX_DELAY_S = 30 * 24 * 3600;
/** Longest time limit accepted: 7 days, in seconds. */
const MAX_TIME_LIMIT_S = 7 * 24 * 3600;

const optionsSchema = z
  .object({
    queue: z.string().optional(),
    /** Seconds to wait before the task may run. */
    countdown: z.number().min(0).max(MAX_DELAY_S).optional(),
    /** When the task may run, ISO 8601 with a time zone. */
    eta: z.iso.datetime({ offset: true }).optional(),
    maxRetries: z.number().int().min(0).max(MAX_RETRIES_LIMIT).optional(),
    /** Hard and soft time limits in seconds (Celery's time_limit / soft_time_limit). */
    timeLimit: z.number().positive().max(MAX_TIME_LIMIT_S).optional(),
    softTimeLimit: z.number().positive().max(MAX_TIME_LIMIT_S).optional(),
    ...celeryOptionsSchema,
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
  /** Not before this time (countdown / eta). */
  eta?: Date;
  maxRetries?: number;
  timeLimitS?: number;
  softTimeLimitS?: number;
  /** Hash of what was asked for, to tell a reused Idempotency-Key from a repeated submit. */
  fingerprint: string;
  /** A second publish of a task whose first publish got no confirm (Idempotency-Key retry). */
  republish?: boolean;
  /** The API key that submits it (recorded on the task); null or absent without auth. */
  owner?: string | null;
  /** `expires` (ISO date) and `priority`, as they go into the task message. */
  celery?: CeleryOptions;
  /** Implemented outside Celerity (catalogue `external`): always asks for a reply. */
  external?: boolean;
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
  /** Delay queues declared so far (countdown / eta). */
  delayQueues: TaskQueues;
  /** Per-queue maximum length (QUEUE_MAX_LENGTH); no limit when absent. */
  limits?: QueueLimits;
  /** Largest args + kwargs of one task, as JSON bytes (413 ARGUMENTS_TOO_LARGE). @default no limit */
  maxArgsBytes?: number;
  /** Records the results of tasks that no Celerity worker records (Python Celery workers). */
  replyRecorder?: ReplyRecorder;
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
    const celery = resolveCeleryOptions(options);
    const queue = options.queue ?? task.queue;
    if (!isValidQueueName(queue)) {
      throw new CelerityError('INVALID_QUEUE', `Invalid queue name "${queue}": ${QUEUE_NAME_RULE}`);
    }
    assertStorableArguments(parsed.data.args ?? [], parsed.data.kwargs ?? {});
    assertArgumentsSize(parsed.data.args, parsed.data.kwargs, this.deps.maxArgsBytes);
    const check = checkArguments(task, parsed.data.args ?? [], parsed.data.kwargs ?? {});
    if (!check.ok) throw new CelerityError('INVALID_ARGUMENTS', `Invalid arguments for ${name}: ${formatIssues(check.issues)}`);
    if (options.countdown !== undefined && options.eta !== undefined) {
      throw new CelerityError('INVALID_OPTIONS', 'Give countdown or eta, not both');
    }
    if (options.timeLimit !== undefined && options.softTimeLimit !== undefined && options.softTimeLimit > options.timeLimit) {
      throw new CelerityError('INVALID_OPTIONS', 'softTimeLimit must not be longer than timeLimit');
    }
    const createdAt = new Date();
    let eta: Date | undefined;
    if (options.countdown !== undefined && options.countdown > 0) eta = new Date(createdAt.getTime() + options.countdown * 1000);
    if (options.eta !== undefined) {
      eta = new Date(options.eta);
      if (eta.getTime() - createdAt.getTime() > MAX_DELAY_S * 1000) {
        throw new CelerityError('INVALID_OPTIONS', `eta must be at most ${MAX_DELAY_S / 86400} days ahead`);
      }
    }
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([name, queue, check.args, check.kwargs, options]))
      .digest('base64url');
    return {
      id: randomUUID(),
      name,
      queue,
      args: check.args,
      kwargs: check.kwargs,
      createdAt,
      fingerprint,
      ...(eta ? { eta } : {}),
      ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
      ...(options.timeLimit !== undefined ? { timeLimitS: options.timeLimit } : {}),
      ...(options.softTimeLimit !== undefined ? { softTimeLimitS: options.softTimeLimit } : {}),
      ...(celery ? { celery } : {}),
      ...(task.external ? { external: true } : {}),
    };
  }

  /** Publishes (resolving after the broker's confirm) and records the task as PENDING. */
  async submit(submission: Submission, options: { wantReply: boolean }): Promise<void> {
    const { broker, publisher, queues, store, metrics, logger } = this.deps;
    const connection = broker.connection;
    if (!connection) throw new CelerityError('BROKER_UNAVAILABLE', 'Not connected to the broker', { retryAfterS: 2 });
    this.deps.limits?.check(submission.queue);
    if (!queues.has(submission.queue)) {
      try {
        await queues.ensure(connection, submission.queue);
      } catch (err) {
        throw new CelerityError('QUEUE_UNAVAILABLE', `Could not declare queue "${submission.queue}"`, { cause: err, retryAfterS: 5 });
      }
    }
    // A task run elsewhere (a Python Celery worker) records nothing itself: its reply is the only
    // way its result reaches the store, so ask for one even when nobody waits.
    const replyTo = options.wantReply || submission.external ? this.deps.replyTo() : undefined;
    if (replyTo) this.deps.replyRecorder?.expect(submission);
    const task = newTaskMessage({
      id: submission.id,
      name: submission.name,
      args: submission.args,
      kwargs: submission.kwargs,
      replyTo: replyTo ?? null,
      ...submission.celery,
    });
    if (submission.eta) task.eta = submission.eta.toISOString();
    if (submission.timeLimitS !== undefined || submission.softTimeLimitS !== undefined) {
      task.timelimit = [submission.timeLimitS ?? null, submission.softTimeLimitS ?? null];
    }
    const message = encodeTaskMessage(task);
    const headers: Record<string, unknown> = { ...(message.options.headers as Record<string, unknown> | undefined) };
    if (submission.maxRetries !== undefined) headers[MAX_RETRIES_HEADER] = submission.maxRetries;
    if (submission.republish) headers[REPUBLISHED_HEADER] = true;
    if (submission.owner) headers[OWNER_HEADER] = submission.owner;
    // A task that must wait goes through the broker's delay queues (shared/src/amqp/delay.ts).
    let exchange = '';
    let delayQueue: string | undefined;
    const delayMs = submission.eta ? submission.eta.getTime() - Date.now() : 0;
    if (delayMs > 0) {
      const level = delayLevelFor(delayMs);
      delayQueue = delayQueueName(level);
      try {
        await this.deps.delayQueues.ensure(connection, delayQueue);
      } catch (err) {
        throw new CelerityError('QUEUE_UNAVAILABLE', 'Could not declare the delay queue', { cause: err, retryAfterS: 5 });
      }
      exchange = DELAY_EXCHANGE;
      headers[DELAY_HEADER] = String(level);
    }
    message.options.headers = headers;
    const recorded = store
      .record({
        id: submission.id,
        name: submission.name,
        queue: submission.queue,
        state: 'PENDING',
        args: submission.args,
        kwargs: submission.kwargs,
        createdAt: submission.createdAt,
        owner: submission.owner ?? null,
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
      await publisher.publish(exchange, submission.queue, message.content, {
        ...message.options,
        headers: { ...headers, ...publishTimeHeaders() },
        correlationId: submission.id,
      });
    } catch (err) {
      if (err instanceof CelerityError && err.code === 'QUEUE_UNAVAILABLE') {
        queues.forget(submission.queue);
        if (delayQueue) this.deps.delayQueues.forget(delayQueue);
      }
      if (replyTo) this.deps.replyRecorder?.forget(submission.id);
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
    this.deps.limits?.notePublished(submission.queue);
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

/**
 * Refuses arguments bigger than the limit, before they are validated, published or stored:
 * GATEWAY_MAX_BODY bounds a whole request (a batch holds many tasks), this bounds one task.
 */
export function assertArgumentsSize(args: unknown[] | undefined, kwargs: Record<string, unknown> | undefined, maxBytes: number | undefined): void {
  if (maxBytes === undefined) return;
  const bytes = Buffer.byteLength(JSON.stringify(args ?? [])) + Buffer.byteLength(JSON.stringify(kwargs ?? {}));
  if (bytes > maxBytes) {
    throw new CelerityError('ARGUMENTS_TOO_LARGE', `The task's args and kwargs take ${bytes} bytes as JSON; the limit is ${maxBytes} (GATEWAY_MAX_ARGS)`);
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
