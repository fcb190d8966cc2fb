/**
 * `celerity beat --app ./tasks.js`: runs the scheduler alone (as Celery's `celery beat`): fires
 * the app's schedules and those stored at run time while it holds the leader lease; any number
 * may run, exactly one fires. `celerity worker --beat` runs the same next to a worker.
 */
import { Command } from 'commander';
import type { Server } from 'node:http';
import { loadBeatSettings, loadCommonConfig, type GatewayFlags } from '../../../shared/src/config/index.js';
import { createRegistry, loggerFromConfig, onSignals, type Logger } from '../../../shared/src/core/index.js';
import { startBeat, type RunningBeat } from '../../../shared/src/schedule/index.js';
import type { LoadedApp } from '../../../shared/src/app/index.js';
import { APP_HELP, checkSchemaAtStart, type CliContext, CliError, examples, EXIT, loadAppModule } from '../../../shared/src/cli/index.js';
import { serverPort, startMetricsServer } from '../metrics-server.js';

type BeatFlags = Pick<GatewayFlags, 'migrate'> & { app?: string; metricsPort?: string };

/** Starts the scheduler of `app` next to whatever else this process runs (`worker --beat`). */
export async function startAppBeat(ctx: CliContext, app: LoadedApp, config: Parameters<typeof startBeat>[0]['config'] & { databaseSchema: string }, logger: Logger, registry: Parameters<typeof startBeat>[0]['registry']): Promise<RunningBeat> {
  const settings = loadBeatSettings(ctx.env);
  const running = await startBeat({ config, schema: config.databaseSchema, logger, tasks: app.tasks, schedules: app.schedules, ...(registry ? { registry } : {}), ...settings });
  logger.info(`scheduler ${running.beat.name} started with ${app.schedules.length} schedules from the app (lease ${settings.leaseMs} ms, tick ${running.beat.tickMs} ms)`, {
    schedules: app.schedules.map((s) => s.name),
    leader: running.beat.isLeader,
  });
  return running;
}

async function runBeat(ctx: CliContext, flags: BeatFlags): Promise<void> {
  const app = await loadAppModule(flags.app, ctx.env);
  const config = loadCommonConfig(ctx.env, flags);
  ctx.services(config);
  const logger = loggerFromConfig('beat', config);
  let metricsPort = 0;
  if (flags.metricsPort !== undefined) {
    metricsPort = Number(flags.metricsPort);
    if (!/^\d{1,5}$/.test(flags.metricsPort) || metricsPort > 65535) throw new CliError(EXIT.CONFIG, `invalid configuration: --metrics-port must be a port number, got "${flags.metricsPort}"`);
  }
  await checkSchemaAtStart(config, logger);
  const registry = createRegistry('beat');
  const running = await startAppBeat(ctx, app, config, logger, registry);
  let server: Server | undefined;
  if (metricsPort > 0) {
    server = await startMetricsServer({
      registry,
      port: metricsPort,
      host: '127.0.0.1',
      logger,
      health: () => ({ ok: true, state: running.beat.isLeader ? 'LEADER' : 'STANDBY', inFlight: 0 }),
      readiness: { broker: () => true, consuming: () => true, database: () => Promise.resolve() },
      ...(ctx.env.METRICS_TOKEN ? { guard: { token: ctx.env.METRICS_TOKEN } } : {}),
    });
    logger.info(`scheduler metrics on http://127.0.0.1:${serverPort(server)}/metrics`);
  }
  const stop = async (): Promise<void> => {
    await running.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  };
  onSignals(stop, () => setTimeout(() => ctx.exit(EXIT.INTERRUPTED), 0).unref(), logger);
}

export function beatCommand(ctx: CliContext): Command {
  return new Command('beat')
    .description("fire the app's schedules (and those created at run time): any number may run, exactly one fires each run")
    .option('-A, --app <module>', APP_HELP)
    .option('--metrics-port <port>', 'serve /metrics (celerity_beat_*) on 127.0.0.1 at this port (default: off)')
    .option('--no-migrate', 'refuse to start when the database schema is behind, instead of migrating it (env AUTO_MIGRATE=false)')
    .addHelpText(
      'after',
      `
The leader holds a lease in PostgreSQL (BEAT_LEASE_MS, default 10000); every process checks it each
BEAT_TICK_MS (default 1000): a dead leader is replaced within the lease plus one tick.
${examples(['celerity beat --app ./tasks.js', 'celerity worker --app ./tasks.js --beat   # the same, inside a worker (-B)'])}`,
    )
    .action((flags: BeatFlags) => runBeat(ctx, flags));
}
