/**
 * The remote-control commands a Celerity worker answers, by Celery's names and with Celery's
 * arguments and replies (celery/worker/control.py). Each takes the command's `arguments` and
 * returns the reply; a thrown error becomes `{"error": message}` (pidbox-node.ts).
 */
import { assertUsableQueue } from '../../../shared/src/auth/index.js';
import { isValidQueueName, QUEUE_NAME_RULE, type QueueTypes } from '../../../shared/src/core/index.js';
import type { ControlWorker } from './control-target.js';
import { nok, ok, queueInfo, requestInfo, statsReply } from './replies.js';

export interface CommandContext {
  worker: ControlWorker;
  queueTypes: QueueTypes | undefined;
  /** Lamport clock and start time for `stats`. */
  clock: () => number;
  startedAt: number;
  version: string;
}

type Handler = (args: Record<string, unknown>, ctx: CommandContext) => unknown;

const NOT_SUPPORTED = (command: string): { error: string } => nok(`${command} is not supported by this worker`);

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw new TypeError('task_id must be a task id or a list of them');
}

function count(value: unknown): number {
  const n = value === undefined || value === null ? 1 : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`n must be a whole number ≥ 1, not ${JSON.stringify(value)}`);
  return n;
}

function queueArgument(value: unknown): string {
  if (typeof value !== 'string' || !isValidQueueName(value)) throw new TypeError(`invalid queue name ${JSON.stringify(value)} (${QUEUE_NAME_RULE})`);
  return value;
}

async function revoke(args: Record<string, unknown>, ctx: CommandContext, terminate: boolean): Promise<unknown> {
  const target = ctx.worker.target();
  if (!target.revoke) return NOT_SUPPORTED(terminate ? 'terminate' : 'revoke');
  const ids = stringList(args.task_id);
  const reason = typeof args.reason === 'string' ? args.reason : undefined;
  await target.revoke(ids, { terminate, ...(reason ? { reason } : {}) });
  return ok(terminate ? `terminate: ${ids.join(', ')}` : `tasks ${ids.join(', ')} flagged as revoked`);
}

async function resizeBy(ctx: CommandContext, command: 'pool_grow' | 'pool_shrink', delta: number): Promise<unknown> {
  const target = ctx.worker.target();
  const concurrency = target.concurrency;
  if (!target.resize || concurrency === undefined) return NOT_SUPPORTED(command);
  // Never below one slot: a worker that runs nothing looks alive and does no work.
  await target.resize(Math.max(1, concurrency + delta));
  return ok(command === 'pool_grow' ? 'pool will grow' : 'pool will shrink');
}

export const COMMANDS: Readonly<Record<string, Handler>> = {
  ping: () => ok('pong'),
  active: (_args, ctx) => ctx.worker.deliveries().filter((d) => d.running).map((d) => requestInfo(d, ctx.worker.target().name)),
  reserved: (_args, ctx) => ctx.worker.deliveries().filter((d) => !d.running).map((d) => requestInfo(d, ctx.worker.target().name)),
  // ETA and countdown tasks wait in the broker's delay queues, never in a Celerity worker.
  scheduled: () => [],
  registered: (_args, ctx) => [...ctx.worker.taskNames].sort(),
  stats: async (_args, ctx) => {
    const { worker } = ctx;
    return statsReply({
      totals: await worker.totals(),
      concurrency: worker.target().concurrency ?? worker.concurrency,
      timeLimits: worker.timeLimits,
      broker: worker.broker,
      clock: ctx.clock(),
      uptimeS: (Date.now() - ctx.startedAt) / 1000,
      version: ctx.version,
    });
  },
  active_queues: (_args, ctx) => ctx.worker.queues().map((queue) => queueInfo(queue, ctx.queueTypes)),
  revoke: (args, ctx) => revoke(args, ctx, args.terminate === true),
  terminate: (args, ctx) => revoke(args, ctx, true),
  add_consumer: async (args, ctx) => {
    const queue = queueArgument(args.queue);
    // Not a dead-letter, reply, delay, event or pidbox queue: the rule callers of the gateway follow.
    assertUsableQueue(queue);
    const added = await ctx.worker.addQueue(queue);
    return ok(added ? `add consumer ${queue}` : `already consuming from ${queue}`);
  },
  cancel_consumer: async (args, ctx) => {
    const queue = queueArgument(args.queue);
    return (await ctx.worker.cancelQueue(queue)) ? ok(`no longer consuming from ${queue}`) : nok(`not consuming from ${queue}`);
  },
  pool_grow: (args, ctx) => resizeBy(ctx, 'pool_grow', count(args.n)),
  pool_shrink: (args, ctx) => resizeBy(ctx, 'pool_shrink', -count(args.n)),
  rate_limit: async (args, ctx) => {
    const { task_name: task, rate_limit: rate } = args;
    if (typeof task !== 'string' || !ctx.worker.taskNames.includes(task)) return nok('unknown task');
    const target = ctx.worker.target();
    if (!target.setRateLimit) return NOT_SUPPORTED('rate_limit');
    // Celery: an empty rate or 0 lifts the limit.
    const lifted = rate === null || rate === undefined || rate === '' || rate === 0 || rate === '0';
    try {
      await target.setRateLimit(task, lifted ? null : typeof rate === 'string' || typeof rate === 'number' ? String(rate) : JSON.stringify(rate));
    } catch (err) {
      return nok(`Invalid rate limit string: ${(err as Error).message}`);
    }
    return ok(lifted ? 'rate limit disabled successfully' : 'new rate limit set successfully');
  },
  shutdown: () => ok('shutting down'),
};

/** Whether `method` is a command this worker answers (bounded metric labels). */
export function isKnownCommand(method: string): boolean {
  return Object.hasOwn(COMMANDS, method);
}
