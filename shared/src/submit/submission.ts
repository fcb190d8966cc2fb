/**
 * A submit request, validated: the one place that checks a task's arguments against its
 * schemas, its options (countdown, eta, expires, priority, limits, queue) and their bounds,
 * and turns them into what the submitter publishes. The HTTP routes (single and batch) and
 * the Node client all go through `prepareSubmission`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { assertStorableArguments, CelerityError, MAX_RETRIES_LIMIT, RESULT_MODES, type ResultMode } from '../core/index.js';
import { assertUsableQueue } from '../auth/index.js';
import { checkArguments, formatIssues } from '../app/index.js';
import type { TaskDefinition } from '../app/index.js';
import type { TaskRecord } from '../core/index.js';
import type { CanvasPlace } from '../broker/index.js';
import { celeryOptionsSchema, resolveCeleryOptions, type CeleryOptions } from './celery-options.js';
import { dedupeSchema, type DedupeOption } from './dedupe.js';

/** Longest `countdown`, and furthest `eta`, accepted: 30 days, in seconds. */
const MAX_DELAY_S = 30 * 24 * 3600;
/** Longest time limit accepted: 7 days, in seconds. */
const MAX_TIME_LIMIT_S = 7 * 24 * 3600;

export const submitOptionsSchema = z
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
    /** What the store keeps of this run (shared/src/core/result-mode.ts); overrides the task's. */
    result: z.enum(RESULT_MODES).optional(),
    /** Deduplication on submit (submit/dedupe.ts). */
    dedupe: dedupeSchema.optional(),
    ...celeryOptionsSchema,
  })
  .strict();

/** A submit body: `{ args, kwargs, options }`, each optional. */
const submitBodySchema = z
  .object({
    args: z.array(z.unknown()).optional(),
    kwargs: z.record(z.string(), z.unknown()).optional(),
    options: submitOptionsSchema.optional(),
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
  /** The result mode the submit or the task chose; absent: `full`, and the worker's definition decides. */
  result?: ResultMode;
  /** Its place in a workflow: the canvas embed, workflow id and group (submit/workflows.ts). */
  canvas?: CanvasPlace;
  /** `options.dedupe`: the submit flow deduplicates it against earlier tasks with the key (submit/dedupe.ts). */
  dedupe?: DedupeOption;
}

/** The rows a submission's task gets in the store (result-mode.ts). */
export function resultModeOfSubmission(submission: Pick<Submission, 'result'>): ResultMode {
  return submission.result ?? 'full';
}

/**
 * Options of one submit, as the HTTP body's `options` and the client's `submit(..., options)`
 * take them.
 */
export type SubmitOptions = z.input<typeof submitOptionsSchema>;

/**
 * Validates a submit of `task` (`body` is `{ args, kwargs, options }`) and gives it a new task id
 * (through `identify`); throws a CelerityError naming what is wrong.
 */
export function prepareSubmission(task: TaskDefinition, body: unknown, maxArgsBytes?: number, checkArgs = true): Submission {
  const name = task.name;
  const parsed = submitBodySchema.safeParse(body ?? {});
  if (!parsed.success) {
    const dedupe = parsed.error.issues.filter((i) => i.path[0] === 'options' && i.path[1] === 'dedupe');
    if (dedupe.length > 0) throw new CelerityError('INVALID_DEDUPE', `Invalid options.dedupe: ${dedupe.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    throw new CelerityError('INVALID_REQUEST', `Invalid request body: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  }
  const options = parsed.data.options ?? {};
  const celery = resolveCeleryOptions(options);
  const queue = options.queue ?? task.queue;
  if (options.queue !== undefined) assertUsableQueue(options.queue);
  assertStorableArguments(parsed.data.args ?? [], parsed.data.kwargs ?? {});
  assertArgumentsSize(parsed.data.args, parsed.data.kwargs, maxArgsBytes);
  // A workflow step whose args are still partial (a later chain step, a chord's body) gets the
  // previous result prepended when it runs: its worker checks them then.
  const check = checkArgs
    ? checkArguments(task, parsed.data.args ?? [], parsed.data.kwargs ?? {})
    : ({ ok: true, args: parsed.data.args ?? [], kwargs: parsed.data.kwargs ?? {} } as const);
  if (!check.ok) throw new CelerityError('INVALID_ARGUMENTS', `Invalid arguments for ${name}: ${formatIssues(check.issues)}`);
  if (options.countdown !== undefined && options.eta !== undefined) {
    throw new CelerityError('INVALID_OPTIONS', 'Give countdown or eta, not both');
  }
  if (options.timeLimit !== undefined && options.softTimeLimit !== undefined && options.softTimeLimit > options.timeLimit) {
    throw new CelerityError('INVALID_OPTIONS', 'softTimeLimit must not be longer than timeLimit');
  }
  assertDedupeOptions(options, options.result ?? task.result);
  const createdAt = new Date();
  let eta: Date | undefined;
  if (options.countdown !== undefined && options.countdown > 0) eta = new Date(createdAt.getTime() + options.countdown * 1000);
  if (options.eta !== undefined) {
    eta = new Date(options.eta);
    if (eta.getTime() - createdAt.getTime() > MAX_DELAY_S * 1000) {
      throw new CelerityError('INVALID_OPTIONS', `eta must be at most ${MAX_DELAY_S / 86400} days ahead`);
    }
  }
  // A debounced task waits out its window; a later submit with its key replaces it meanwhile.
  if (options.dedupe?.mode === 'debounce' && options.dedupe.windowS !== undefined) eta = new Date(createdAt.getTime() + options.dedupe.windowS * 1000);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([name, queue, check.args, check.kwargs, options]))
    .digest('base64url');
  return identify({
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
    ...(options.result !== undefined || task.result !== undefined ? { result: options.result ?? task.result } : {}),
    ...(options.dedupe ? { dedupe: options.dedupe } : {}),
  });
}

/**
 * Dedupe options that cannot work: a debounce decides the task's eta itself; a singleton needs
 * the task's final state stored (result mode `none` stores nothing, so the key would never free).
 */
function assertDedupeOptions(options: SubmitOptions, result: ResultMode | undefined): void {
  const { dedupe } = options;
  if (!dedupe) return;
  if (dedupe.mode === 'debounce' && (options.countdown !== undefined || options.eta !== undefined)) {
    throw new CelerityError('INVALID_DEDUPE', 'A debounced task runs dedupe.windowS after its submit: give no countdown or eta with it');
  }
  if (dedupe.mode === 'singleton' && result === 'none') {
    throw new CelerityError('INVALID_DEDUPE', "A singleton needs the task's final state stored to know when it ended: result mode 'none' stores nothing");
  }
}

/**
 * Refuses `options.dedupe` where it cannot apply: it decides one submit against earlier ones,
 * and batches, workflow steps and schedule runs are published as given. `where` names the item.
 */
export function assertNoDedupe(submission: Pick<Submission, 'dedupe'>, where: string): void {
  if (submission.dedupe) throw new CelerityError('OPTION_NOT_SUPPORTED', `${where}: options.dedupe applies to single submits only; remove it`);
}

/** A submission before it has a task id: what validation produces. */
export type SubmitRequest = Omit<Submission, 'id' | 'republish'>;

/**
 * The one place a task gets its id: a new random UUID, or `id` when the caller chose it (the
 * task an idempotency key first created, published again or replayed). Validation never picks
 * an id, and nothing else swaps one in.
 */
export function identify(request: SubmitRequest, id: string = randomUUID()): Submission {
  const { republish: _previous, ...rest } = request as Submission;
  return { ...rest, id };
}

/**
 * Refuses arguments bigger than the limit, before they are validated, published or stored:
 * GATEWAY_MAX_BODY bounds a whole request (a batch holds many tasks), this bounds one task.
 */
function assertArgumentsSize(args: unknown[] | undefined, kwargs: Record<string, unknown> | undefined, maxBytes: number | undefined): void {
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
