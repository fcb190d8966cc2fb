/**
 * `celerity worker --app ./tasks.js [-Q a,b] [-c N]`: checks (and by default migrates) the
 * schema, then consumes until SIGINT/SIGTERM. Its metrics port: a given one that is taken is an
 * error; the default one taken moves to the next free port, said in the log, so several workers
 * on one host start with default flags.
 */
import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import { Catalogue } from '../../../shared/src/app/index.js';
import { DEFAULTS, loadWorkerConfig, type WorkerFlags } from '../../../shared/src/config/index.js';
import { loggerFromConfig, onSignals, startTrace } from '../../../shared/src/core/index.js';
import { Worker } from '../worker.js';
import { isFaultPoint, type FaultPoint } from '../pipeline/fault-point.js';
import { installCrashPolicy } from '../crash-policy.js';
import { startAppBeat } from './beat-command.js';
import {
  APP_HELP,
  checkSchemaAtStart,
  type CliContext,
  CliError,
  examples,
  EXIT,
  loadAppModule,
} from '../../../shared/src/cli/index.js';

/** Ports after the default one a worker tries when it is taken (9400 → 9401 … 9499). */
const DEFAULT_METRICS_PORT_SPAN = 99;

/** CELERITY_FAULT_POINT: for the chaos tests only (worker/src/pipeline/fault-point.ts), never documented for users. */
function faultPointOf(value: string | undefined): FaultPoint | undefined {
  if (value === undefined || value === '') return undefined;
  if (!isFaultPoint(value)) throw new CliError(EXIT.CONFIG, `invalid configuration: CELERITY_FAULT_POINT must be after-reply or after-commit, got "${value}"`);
  return value;
}

/** A listen error on the metrics port as the error naming the setting that chose it. */
function metricsPortError(err: unknown, port: number, setting: string): Error {
  if ((err as { code?: unknown } | null)?.code !== 'EADDRINUSE') return err instanceof Error ? err : new Error(String(err));
  return new CliError(
    EXIT.CONFIG,
    `${setting} ${port} is taken on this host (another worker or program listens there)`,
    `give each worker on a host its own ${setting} (0 turns the metrics server off), or leave it unset to take the next free port.`,
    { cause: err },
  );
}

async function runWorker(ctx: CliContext, flags: WorkerFlags & { app?: string; beat?: boolean }): Promise<void> {
  const app = await loadAppModule(flags.app, ctx.env);
  const file = ctx.env.CELERITY_TRACE_FILE;
  if (file) startTrace(file);
  const config = loadWorkerConfig(ctx.env, flags, { queues: new Catalogue(app.tasks).workerQueues(), cpus: availableParallelism() });
  ctx.services(config);
  const logger = loggerFromConfig('worker', config);
  // One task's stray error fails that task only; a crash outside any task is one log line, then
  // a drain (worker/src/crash-policy.ts).
  const crashes = installCrashPolicy(process, { logger, exit: (code) => ctx.exit(code) });
  const faultPoint = faultPointOf(ctx.env.CELERITY_FAULT_POINT);
  await checkSchemaAtStart(config, logger);
  const portSetting = flags.metricsPort !== undefined ? '--metrics-port' : 'WORKER_METRICS_PORT';
  const worker = await Worker.create({
    config,
    logger,
    schema: config.databaseSchema,
    tasks: app.tasks,
    appUrl: app.url,
    ...(faultPoint ? { faultPoint } : {}),
    // A remote `shutdown` (celery control shutdown) takes the SIGTERM path below: same drain, and a second signal still forces.
    onRemoteShutdown: () => process.kill(process.pid, 'SIGTERM'),
    ...(config.metricsPort > 0
      ? {
          metrics: {
            port: config.metricsPort,
            host: config.metricsHost,
            access: config.metricsAccess,
            ...(config.metricsPortGiven ? {} : { nextFreePorts: DEFAULT_METRICS_PORT_SPAN }),
          },
        }
      : {}),
  }).catch((err: unknown) => {
    throw metricsPortError(err, config.metricsPort, portSetting);
  });
  // --beat: the scheduler runs beside the worker, on its own connections and the worker's metrics.
  const beat = flags.beat ? await startAppBeat(ctx, app, config, logger, worker.metrics.registry).catch(async (err: unknown) => {
    await worker.stop();
    throw err;
  }) : undefined;
  const stop = async (): Promise<void> => {
    await Promise.all([beat?.close(), worker.stop()]);
  };
  crashes.drainWith(stop);
  const port = worker.metricsPort;
  if (port !== undefined && port !== config.metricsPort) {
    logger.info(`metrics port ${config.metricsPort} is taken (another worker on this host?): serving /metrics, /healthz and /readyz on ${port}`, {
      port,
      defaultPort: config.metricsPort,
    });
  }
  const scaling = config.autoscale ? ` (autoscaling ${config.autoscale.min} to ${config.autoscale.max})` : '';
  logger.info(`worker ${worker.name} consuming ${config.queues.join(', ')} with concurrency ${worker.concurrency}${scaling}`, {
    app: app.file,
    tasks: app.tasks.map((t) => t.name),
    ...(port !== undefined ? { metricsPort: port } : {}),
  });
  onSignals(
    stop,
    () => {
      // Unacked messages go back to the queue.
      worker.force();
      setTimeout(() => ctx.exit(EXIT.INTERRUPTED), 500).unref();
    },
    logger,
  );
}

export function workerCommand(ctx: CliContext): Command {
  return new Command('worker')
    .description("consume task queues and run the app's tasks")
    .option('-A, --app <module>', APP_HELP)
    .option('-Q, --queues <names>', "comma-separated queues to consume (env WORKER_QUEUES; default: the queues the app's tasks name)")
    .option('-c, --concurrency <n>', `tasks run at once (env WORKER_CONCURRENCY; default ${DEFAULTS.workerConcurrency})`)
    .option(
      '--autoscale <max,min>',
      "grow to max tasks at once while the queues have ready messages, shrink back towards min after 30 s without (Celery's --autoscale; starts at min, overrides -c; env WORKER_AUTOSCALE)",
    )
    .option('-E, --task-events', "publish task events on celeryev, as Celery's -E (env WORKER_TASK_EVENTS; default off)")
    .option(
      '--metrics-port <port>',
      `port of /metrics, /healthz and /readyz, 0 = off (env WORKER_METRICS_PORT; default ${DEFAULTS.workerMetricsPort}, or the next free one when it is taken)`,
    )
    .option('--metrics-host <address>', `address they bind to; beyond loopback /metrics needs METRICS_TOKEN or AUTH_MODE=keys (env WORKER_METRICS_HOST; default ${DEFAULTS.workerMetricsHost})`)
    .option('--no-migrate', 'refuse to start when the database schema is behind, instead of migrating it (env AUTO_MIGRATE=false)')
    .option('-B, --beat', "also run the scheduler (as Celery's -B): the app's schedules fire from exactly one process however many run it")
    .addHelpText(
      'after',
      examples([
        'celerity worker --app ./tasks.js --autoscale 16,2   # 2 to 16 tasks at once, following the backlog',
        'celerity worker --app ./tasks.js -Q emails,reports -c 32 --metrics-port 9401',
        'AUTO_MIGRATE=false celerity worker --app ./tasks.js   # the schema is migrated by a deploy step',
      ]),
    )
    .action((flags: WorkerFlags & { app?: string; beat?: boolean }) => runWorker(ctx, flags));
}
