/**
 * `celerity status [queue...] [--json]`: the queues (messages ready, unacked, consumers) and
 * the workers seen on the event exchange, as Celery's `celery status` and `celery inspect`
 * give them. Workers are heard through their heartbeats (every 2 s), so it listens a moment
 * (`--listen`). Ready and consumers come from a passive declare; unacked needs the RabbitMQ
 * management API (RABBITMQ_MANAGEMENT_URL), else it is null.
 */
import { Command } from 'commander';
import { Catalogue } from '../../../shared/src/app/index.js';
import { QUEUE_NAME_RULE, isValidQueueName } from '../../../shared/src/core/index.js';
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
}

function render(status: Status, listenedS: number): string {
  const rows = [['QUEUE', 'READY', 'UNACKED', 'CONSUMERS'], ...status.queues.map((q) => (q.exists ? [q.name, String(q.ready), q.unacked === null ? '-' : String(q.unacked), String(q.consumers)] : [q.name, 'no such queue', '', '']))];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const table = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  const workers = status.workers.map(
    (w) => `${w.hostname}  ${w.status}  queues=${w.queues.join(',') || '-'}  active=${w.active}/${w.concurrency ?? '?'}  processed=${w.processed}${w.pid !== null ? `  pid=${w.pid}` : ''}${w.metricsPort !== null ? `  metrics=:${w.metricsPort}` : ''}`,
  );
  const heard = workers.length > 0 ? workers : ['(none heard: no worker running, or none reaches this broker)'];
  return `${table.join('\n')}\n\nWORKERS (heard on celeryev in ${listenedS} s)\n${heard.join('\n')}\n`;
}

async function runStatus(ctx: CliContext, named: string[], flags: StatusFlags): Promise<void> {
  const listenS = Number(flags.listen);
  if (!Number.isFinite(listenS) || listenS < 0 || listenS > 60) throw new CliError(EXIT.CONFIG, `--listen must be a number of seconds from 0 to 60, got "${flags.listen}"`);
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
    return { queues, workers };
  });
  ctx.print(flags.json ? `${JSON.stringify(status, null, 2)}\n` : render(status, listenS));
}

export function statusCommand(ctx: CliContext): Command {
  return new Command('status')
    .description('the queues (ready, unacked, consumers) and the workers running, heard on the event exchange')
    .argument('[queue...]', "queues to show (default: the app's, and those the workers heard consume)")
    .option('--json', 'print JSON (for scripts)')
    .option('-A, --app <module>', APP_HELP)
    .option('--listen <seconds>', 'how long to listen for worker heartbeats (they come every 2 s)', '3')
    .addHelpText('after', examples(['celerity status', 'celerity status emails reports --json', 'RABBITMQ_MANAGEMENT_URL=http://guest:guest@127.0.0.1:15672 celerity status --app ./tasks.js']))
    .action((queues: string[], flags: StatusFlags) => runStatus(ctx, queues, flags));
}
