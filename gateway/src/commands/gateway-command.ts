/**
 * `celerity gateway --app ./tasks.js [--port N] [--host H]`: checks (and by default migrates)
 * the schema, then serves the HTTP API for the app's tasks until SIGINT/SIGTERM.
 */
import { Command } from 'commander';
import { DEFAULTS, loadGatewayConfig, type GatewayFlags } from '../../../shared/src/config/index.js';
import { loggerFromConfig, onSignals, startTrace } from '../../../shared/src/core/index.js';
import { Gateway } from '../gateway.js';
import {
  APP_HELP,
  checkSchemaAtStart,
  type CliContext,
  CliError,
  examples,
  EXIT,
  loadAppModule,
} from '../../../shared/src/cli/index.js';

async function runGateway(ctx: CliContext, flags: GatewayFlags & { app?: string }): Promise<void> {
  const app = await loadAppModule(flags.app, ctx.env);
  const file = ctx.env.CELERITY_TRACE_FILE;
  if (file) startTrace(file);
  const config = loadGatewayConfig(ctx.env, flags);
  ctx.services(config);
  const logger = loggerFromConfig('gateway', config);
  if (config.authDisabled) {
    logger.warn('AUTH_DISABLED=true: the gateway accepts requests without an API key from anyone who can reach it', { host: config.host });
  }
  await checkSchemaAtStart(config, logger);
  const gateway = await Gateway.create({ config, logger, schema: config.databaseSchema, tasks: app.tasks, schedules: app.schedules });
  let address;
  try {
    address = await gateway.listen(config.port, config.host);
  } catch (err) {
    await gateway.close();
    const setting = flags.port !== undefined ? '--port' : 'GATEWAY_PORT';
    if ((err as { code?: unknown }).code !== 'EADDRINUSE') throw err;
    throw new CliError(EXIT.CONFIG, `${setting} ${config.port} is taken on ${config.host} (another gateway or program listens there)`, `choose another ${setting}, or stop what listens there.`, { cause: err });
  }
  logger.info(`gateway listening on http://${address.address}:${address.port}`, {
    host: address.address,
    port: address.port,
    app: app.file,
    tasks: app.tasks.length + (config.externalTasks?.length ?? 0),
  });
  onSignals(() => gateway.close(), () => ctx.exit(EXIT.INTERRUPTED), logger);
}

export function gatewayCommand(ctx: CliContext): Command {
  return new Command('gateway')
    .description("serve the HTTP API for the app's tasks (plus GATEWAY_EXTERNAL_TASKS)")
    .option('-A, --app <module>', APP_HELP)
    .option('--port <port>', `HTTP port (env GATEWAY_PORT; default ${DEFAULTS.gatewayPort})`)
    .option('--host <address>', `listen address; anything but loopback needs authentication (env GATEWAY_HOST; default ${DEFAULTS.gatewayHost})`)
    .option('--no-migrate', 'refuse to start when the database schema is behind, instead of migrating it (env AUTO_MIGRATE=false)')
    .addHelpText(
      'after',
      examples([
        'celerity gateway --app ./tasks.js',
        'celerity gateway --app ./tasks.js --port 8081',
        'AUTH_MODE=keys celerity gateway --app ./tasks.js --host 0.0.0.0',
      ]),
    )
    .action((flags: GatewayFlags & { app?: string }) => runGateway(ctx, flags));
}
