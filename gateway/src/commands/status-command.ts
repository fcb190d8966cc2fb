/**
 * `celerity status [queue...] [--json]`: the queues (messages ready, unacked, consumers) and
 * the workers seen on the event exchange, as Celery's `celery status` and `celery inspect`
 * give them. Workers are heard through their heartbeats (every 2 s), so it listens a moment
 * (`--listen`). Ready and consumers come from a passive declare; unacked needs the RabbitMQ
 * management API (RABBITMQ_MANAGEMENT_URL), else it is null. Then the busiest keys of flow
 * control by key, from PostgreSQL (a database it cannot read is reported there, the rest of
 * the status still prints).
 */
import { Command } from 'commander';
import { Catalogue } from '../../../shared/src/app/index.js';
import { QUEUE_NAME_RULE, isValidQueueName, type Logger } from '../../../shared/src/core/index.js';
import type { CommonConfig } from '../../../shared/src/config/index.js';
import { busiestFlowKeys, createPool, DEFAULT_BUSIEST_KEYS, MAX_BUSIEST_KEYS, type FlowView } from '../../../shared/src/store/index.js';
import { WorkerMonitor, type WorkerView } from '../worker-monitor.js';
import {
  APP_HELP,
  checkQueue,
  type CliContext,
  CliError,
  examples,
  EXIT,
  loadAppModule,
  unackedCount,
  vhostOf,
  withBroker,
} from '../../../shared/src/cli/index.js';

interface StatusFlags {
  json?: boolean;
  app?: string;
  listen: string;
  keys: string;
}

interface QueueStatus {
  name: string;
  exists: boolean;
  ready: number | null;
  unacked: number | null;
  consumers: number | null;
}

interface Status {
  queues: QueueStatus[];
  workers: WorkerView[];
  /** The busiest flow-control keys, or why they could not be read. */
  busiestKeys: FlowView | { error: string };
}

/** Left-aligned columns, two spaces apart. */
function columns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
}

function renderKeys(view: Status['busiestKeys']): string {
  if ('error' in view) return `BUSIEST KEYS\n(could not read them from the database: ${view.error})\n`;
  const { waiting, running, keys } = view.totals;
  const head = `BUSIEST KEYS (over all ${keys} key${keys === 1 ? '' : 's'}: ${waiting} waiting, ${running} running)`;
  if (view.keys.length === 0) return `${head}\n(none: no task with a per-key limit is waiting or running)\n`;
  const rows = [['TASK', 'KEY', 'WAITING', 'RUNNING'], ...view.keys.map((k) => [k.task, k.key, String(k.waiting), String(k.running)])];
  return `${head}\n${columns(rows).join('\n')}\n`;
}

/** The busiest keys from the store; a database that cannot be read becomes the section's message. */
async function readBusiestKeys(config: CommonConfig, logger: Logger, limit: number): Promise<Status['busiestKeys']> {
  const pool = createPool({ url: config.databaseUrl, schema: config.databaseSchema, logger, applicationName: 'celerity-cli', max: 1 });
  try {
    return await busiestFlowKeys(pool, limit);
  } catch (err) {
    // "The database is unavailable" alone hides why: a missing table (not migrated), a refused login.
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return { error: `${err instanceof Error ? err.message : String(err)}${cause}` };
  } finally {
    await pool.end();
  }
}

function render(status: Status, listenedS: number): string {
  const rows = [['QUEUE', 'READY', 'UNACKED', 'CONSUMERS'], ...status.queues.map((q) => (q.exists ? [q.name, String(q.ready), q.unacked === null ? '-' : String(q.unacked), String(q.consumers)] : [q.name, 'no such queue', '', '']))];
  const table = columns(rows);
  const workers = status.workers.map(
    (w) => `${w.hostname}  ${w.status}  queues=${w.queues.join(',') || '-'}  active=${w.active}/${w.concurrency ?? '?'}  processed=${w.processed}${w.pid !== null ? `  pid=${w.pid}` : ''}${w.metricsPort !== null ? `  metrics=:${w.metricsPort}` : ''}`,
  );
  const heard = workers.length > 0 ? workers : ['(none heard: no worker running, or none reaches this broker)'];
  return `${table.join('\n')}\n\nWORKERS (heard on celeryev in ${listenedS} s)\n${heard.join('\n')}\n\n${renderKeys(status.busiestKeys)}`;
}

async function runStatus(ctx: CliContext, named: string[], flags: StatusFlags): Promise<void> {
  const listenS = Number(flags.listen);
  if (!Number.isFinite(listenS) || listenS < 0 || listenS > 60) throw new CliError(EXIT.CONFIG, `--listen must be a number of seconds from 0 to 60, got "${flags.listen}"`);
  const keyLimit = Number(flags.keys);
  if (!Number.isInteger(keyLimit) || keyLimit < 1 || keyLimit > MAX_BUSIEST_KEYS) throw new CliError(EXIT.CONFIG, `--keys must be a whole number from 1 to ${MAX_BUSIEST_KEYS}, got "${flags.keys}"`);
  for (const queue of named) if (!isValidQueueName(queue)) throw new CliError(EXIT.CONFIG, `invalid queue name "${queue}" (${QUEUE_NAME_RULE})`);
  const app = flags.app !== undefined || ctx.env.CELERITY_APP?.trim() ? await loadAppModule(flags.app, ctx.env) : undefined;
  const status = await withBroker(ctx, async (broker, logger, config) => {
    const monitor = await WorkerMonitor.create(broker, { logger });
    let workers: WorkerView[];
    try {
      // Heartbeats come every 2 s: listening for a while is the only way to hear every worker.
      await new Promise((resolve) => setTimeout(resolve, listenS * 1000));
      workers = monitor.workers();
    } finally {
      await monitor.close();
    }
    const catalogue = app ? new Catalogue(app.tasks) : undefined;
    const fromWorkers = workers.filter((w) => w.status === 'online').flatMap((w) => w.queues);
    const names = named.length > 0 ? named : [...new Set([...(catalogue?.defaultQueues() ?? []), ...(catalogue?.workerQueues() ?? []), ...fromWorkers])].sort();
    const queues: QueueStatus[] = [];
    for (const name of names.length > 0 ? names : ['celery']) {
      const counts = await checkQueue(broker, name);
      const unacked = counts ? await unackedCount(ctx.env, name, logger, vhostOf(config.amqpUrls[0] ?? 'amqp://localhost')) : null;
      queues.push({ name, exists: counts !== undefined, ready: counts?.ready ?? null, unacked, consumers: counts?.consumers ?? null });
    }
    return { queues, workers, busiestKeys: await readBusiestKeys(config, logger, keyLimit) };
  });
  ctx.print(flags.json ? `${JSON.stringify(status, null, 2)}\n` : render(status, listenS));
}

export function statusCommand(ctx: CliContext): Command {
  return new Command('status')
    .description('the queues (ready, unacked, consumers), the workers running (heard on the event exchange) and the busiest flow-control keys')
    .argument('[queue...]', "queues to show (default: the app's, and those the workers heard consume)")
    .option('--json', 'print JSON (for scripts)')
    .option('-A, --app <module>', APP_HELP)
    .option('--listen <seconds>', 'how long to listen for worker heartbeats (they come every 2 s)', '3')
    .option('--keys <n>', 'how many of the busiest flow-control keys to show', String(DEFAULT_BUSIEST_KEYS))
    .addHelpText('after', examples(['celerity status', 'celerity status emails reports --json', 'RABBITMQ_MANAGEMENT_URL=http://guest:guest@127.0.0.1:15672 celerity status --app ./tasks.js']))
    .action((queues: string[], flags: StatusFlags) => runStatus(ctx, queues, flags));
}
