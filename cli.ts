#!/usr/bin/env node
// The `celerity` command: `celerity worker --app ./tasks.js [-Q a,b] [-c N]`, `celerity gateway
// --app ./tasks.js`, `celerity migrate`, `celerity keys …`, `celerity dead-letters …`, `celerity topology`; `--help` on each.
// The only place of the CLI that reads the environment, installs signal handlers and exits.
import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import {
  Catalogue,
  CelerityError,
  ConfigError,
  DEFAULTS,
  QUEUE_NAME_RULE,
  createLogger,
  createPool,
  describeTopology,
  isValidQueueName,
  loadApp,
  loadCommonConfig,
  loadGatewayConfig,
  loadWorkerConfig,
  migrate,
  onSignals,
  startTrace,
  type LoadedApp,
  type WorkerFlags,
} from './shared/src/index.js';
import { Gateway } from './gateway/src/gateway.js';
import { installCrashPolicy } from './worker/src/crash-policy.js';
import { runDeadLetterCommand } from './worker/src/dead-letters-cli.js';
import { KeysUsageError, createKey, listKeys, revokeKey, type CreateKeyFlags } from './worker/src/keys-command.js';
import { isFaultPoint, type FaultPoint } from './worker/src/pipeline/fault-point.js';
import { renderTopology } from './worker/src/topology-command.js';
import { Worker } from './worker/src/worker.js';

function fail(message: string, code = 2): never {
  process.stderr.write(`celerity: ${message}\n`);
  process.exit(code);
}

function configOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid configuration: ${err.message}`);
    throw err;
  }
}

/** `--app`, else CELERITY_APP; a missing or unusable module ends the process with the loader's message. */
async function appOrExit(flag: string | undefined): Promise<LoadedApp> {
  const modulePath = flag ?? process.env.CELERITY_APP;
  if (!modulePath) fail('no app module: pass --app <module> or set CELERITY_APP (an ES module exporting defineTask values)');
  try {
    return await loadApp(modulePath);
  } catch (err) {
    if (err instanceof CelerityError && err.code === 'INVALID_APP') fail(err.message, 1);
    throw err;
  }
}

/** CELERITY_TRACE_FILE: per-hop stamps for the bench's latency budget (shared/src/trace.ts; docs/performance.md). */
function traceIfAsked(): void {
  const file = process.env.CELERITY_TRACE_FILE;
  if (file) startTrace(file);
}

/** CELERITY_FAULT_POINT: for the chaos tests only (worker/src/pipeline/fault-point.ts), never documented for users. */
function faultPointOrExit(value: string | undefined): FaultPoint | undefined {
  if (value === undefined || value === '') return undefined;
  if (!isFaultPoint(value)) fail(`invalid configuration: CELERITY_FAULT_POINT must be after-reply or after-commit, got "${value}"`);
  return value;
}

async function runWorker(flags: WorkerFlags & { app?: string }): Promise<void> {
  const app = await appOrExit(flags.app);
  traceIfAsked();
  const config = configOrExit(() =>
    loadWorkerConfig(process.env, flags, { queues: new Catalogue(app.tasks).workerQueues(), cpus: availableParallelism() }),
  );
  const logger = createLogger({ service: 'worker', level: config.logLevel });
  // One task's stray error fails that task only; a crash outside any task is one log line (worker/src/crash-policy.ts).
  const crashes = installCrashPolicy(process, { logger, exit: (code) => process.exit(code) });
  const faultPoint = faultPointOrExit(process.env.CELERITY_FAULT_POINT);
  let worker: Worker;
  try {
    worker = await Worker.create({
      config,
      logger,
      schema: config.databaseSchema,
      tasks: app.tasks,
      appUrl: app.url,
      ...(faultPoint ? { faultPoint } : {}),
      ...(config.metricsPort > 0 ? { metrics: { port: config.metricsPort, host: config.metricsHost, access: config.metricsAccess } } : {}),
    });
  } catch (err) {
    if (err instanceof CelerityError && err.code === 'INVALID_APP') fail(err.message, 1);
    logger.error('worker could not start', { err });
    process.exit(1);
  }
  crashes.drainWith(() => worker.stop());
  logger.info(`worker ${worker.name} consuming ${config.queues.join(', ')} with concurrency ${config.concurrency}`, {
    app: app.file,
    tasks: app.tasks.map((t) => t.name),
  });
  onSignals(
    () => worker.stop(),
    () => {
      // Unacked messages go back to the queue.
      worker.force();
      setTimeout(() => process.exit(130), 500).unref();
    },
    logger,
  );
}

async function runGateway(flags: { app?: string; port?: string; host?: string }): Promise<void> {
  const app = await appOrExit(flags.app);
  traceIfAsked();
  const env = {
    ...process.env,
    ...(flags.port !== undefined ? { GATEWAY_PORT: flags.port } : {}),
    ...(flags.host !== undefined ? { GATEWAY_HOST: flags.host } : {}),
  };
  const config = configOrExit(() => loadGatewayConfig(env));
  const logger = createLogger({ service: 'gateway', level: config.logLevel });
  if (config.authDisabled) {
    logger.warn('AUTH_DISABLED=true: the gateway accepts requests without an API key from anyone who can reach it', { host: config.host });
  }
  let gateway: Gateway;
  try {
    gateway = await Gateway.create({ config, logger, schema: config.databaseSchema, tasks: app.tasks });
  } catch (err) {
    logger.error('gateway could not start', { err });
    process.exit(1);
  }
  const address = await gateway.listen(config.port, config.host);
  logger.info(`gateway listening on http://${address.address}:${address.port}`, {
    host: address.address,
    port: address.port,
    app: app.file,
    tasks: app.tasks.length + (config.externalTasks?.length ?? 0),
  });
  onSignals(() => gateway.close(), () => process.exit(130), logger);
}

async function runMigrate(): Promise<void> {
  const config = configOrExit(() => loadCommonConfig(process.env));
  const logger = createLogger({ service: 'migrate', level: config.logLevel });
  const schema = config.databaseSchema;
  const pool = createPool({ url: config.databaseUrl, schema, logger, applicationName: 'celerity-migrate', max: 1 });
  try {
    const { applied, current } = await migrate(pool, schema, logger);
    logger.info(applied.length > 0 ? `migrated schema ${schema} to version ${current}` : `schema ${schema} is up to date (version ${current})`);
  } catch (err) {
    logger.error('migration failed', { err });
    process.exitCode = 1;
  } finally {
    await pool.end();
  }
}

async function runDeadLetters(action: 'list' | 'redrive', flags: { queue: string; limit: string; id?: string[] }): Promise<void> {
  const config = configOrExit(() => loadCommonConfig(process.env));
  if (!isValidQueueName(flags.queue)) fail(`invalid --queue "${flags.queue}" (${QUEUE_NAME_RULE})`);
  if (!/^\d+$/.test(flags.limit) || Number(flags.limit) < 1) fail(`--limit must be a positive whole number, got "${flags.limit}"`);
  const logger = createLogger({ service: 'dead-letters', level: config.logLevel });
  try {
    const lines = await runDeadLetterCommand(config, logger, {
      action,
      queue: flags.queue,
      limit: Number(flags.limit),
      ...(flags.id && flags.id.length > 0 ? { ids: flags.id } : {}),
    });
    for (const line of lines) process.stdout.write(`${line}\n`);
  } catch (err) {
    logger.error(`dead-letters ${action} failed`, { err });
    process.exitCode = 1;
  }
}

/** Runs one `keys` subcommand against the configured database and prints its output. */
async function runKeys(command: (pool: ReturnType<typeof createPool>) => Promise<string>): Promise<void> {
  const config = configOrExit(() => loadCommonConfig(process.env));
  const logger = createLogger({ service: 'keys', level: config.logLevel });
  const pool = createPool({ url: config.databaseUrl, schema: config.databaseSchema, logger, applicationName: 'celerity-keys', max: 1 });
  try {
    process.stdout.write(await command(pool));
  } catch (err) {
    if (err instanceof KeysUsageError) {
      process.stderr.write(`celerity keys: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      logger.error('keys command failed', { err });
      process.exitCode = 1;
    }
  } finally {
    await pool.end();
  }
}

const APP_HELP = 'path of the app module (an ES module exporting defineTask values; env CELERITY_APP)';

const program = new Command('celerity').description('Celerity: a task system on RabbitMQ and PostgreSQL that speaks Celery\'s protocol').showHelpAfterError();

program
  .command('worker')
  .description('consume task queues and run the app\'s tasks')
  .option('-A, --app <module>', APP_HELP)
  .option('-Q, --queues <names>', 'comma-separated queues to consume (env WORKER_QUEUES; default: the queues the app\'s tasks name)')
  .option('-c, --concurrency <n>', `tasks run at once (env WORKER_CONCURRENCY; default ${DEFAULTS.workerConcurrency})`)
  .option('-E, --task-events', 'publish task events on celeryev, as Celery\'s -E (env WORKER_TASK_EVENTS; default off)')
  .option('--metrics-port <port>', `port of /metrics, /healthz and /readyz, 0 = off (env WORKER_METRICS_PORT; default ${DEFAULTS.workerMetricsPort})`)
  .option('--metrics-host <address>', `address they bind to; beyond loopback /metrics needs METRICS_TOKEN or AUTH_MODE=keys (env WORKER_METRICS_HOST; default ${DEFAULTS.workerMetricsHost})`)
  .action((flags: WorkerFlags & { app?: string }) => runWorker(flags));

program
  .command('gateway')
  .description('serve the HTTP API for the app\'s tasks (plus GATEWAY_EXTERNAL_TASKS)')
  .option('-A, --app <module>', APP_HELP)
  .option('--port <port>', `HTTP port (env GATEWAY_PORT; default ${DEFAULTS.gatewayPort})`)
  .option('--host <address>', `listen address; anything but loopback needs authentication (env GATEWAY_HOST; default ${DEFAULTS.gatewayHost})`)
  .action((flags: { app?: string; port?: string; host?: string }) => runGateway(flags));

program.command('migrate').description('apply database migrations (safe to run again, and concurrently)').action(() => runMigrate());

program
  .command('topology')
  .description('print the exchanges, queues and bindings Celerity declares for an app and this configuration (connects to nothing)')
  .option('-A, --app <module>', APP_HELP)
  .option('-Q, --queues <names>', "comma-separated task queues, as a worker's -Q (env WORKER_QUEUES; default: the queues the app's tasks name)")
  .option('--json', 'print JSON (for scripts)')
  .action(async (flags: { app?: string; queues?: string; json?: boolean }) => {
    const app = await appOrExit(flags.app);
    const catalogue = new Catalogue(app.tasks);
    // The worker's queues (-Q, WORKER_QUEUES, or the app's) and the ones a gateway declares at connect.
    const config = configOrExit(() => loadWorkerConfig(process.env, { ...(flags.queues !== undefined ? { queues: flags.queues } : {}) }, { queues: catalogue.workerQueues(), cpus: 1 }));
    const queues = [...new Set([...config.queues, ...catalogue.defaultQueues()])];
    // QUEUE_TYPES, then the queue types the app's task definitions name, as worker and gateway do.
    const queueTypes = catalogue.queueTypes(config.queueTypes);
    process.stdout.write(renderTopology(describeTopology({ queues, queueTypes }), { json: flags.json === true }));
  });

const deadLetters = program.command('dead-letters').description("list or re-drive a queue's dead letters (<queue>.dead)");
deadLetters
  .command('list')
  .description('print dead letters as JSON lines, oldest first, without removing them')
  .requiredOption('-q, --queue <name>', 'the task queue whose dead letters to list')
  .option('-n, --limit <n>', 'most dead letters to print', '100')
  .action((flags: { queue: string; limit: string }) => runDeadLetters('list', flags));
deadLetters
  .command('redrive')
  .description('move dead letters back onto their queue with a fresh retry budget')
  .requiredOption('-q, --queue <name>', 'the task queue whose dead letters to re-drive')
  .option('-n, --limit <n>', 'most dead letters to re-drive', '1000')
  .option('--id <taskId...>', 'only these task ids')
  .action((flags: { queue: string; limit: string; id?: string[] }) => runDeadLetters('redrive', flags));

const keys = program.command('keys').description('manage API keys (AUTH_MODE=keys): create, list, revoke');
keys
  .command('create')
  .description('create a key and print it (the only time it is shown)')
  .requiredOption('--name <name>', 'a name to know it by (unique among keys in force)')
  .requiredOption('--scopes <list>', 'comma-separated: admin, tasks:read, task-name patterns such as reports.* or *')
  .option('--rate <n>', 'tasks per minute for this key, a batch of N counting N (default: the gateway\'s RATE_LIMIT_PER_MINUTE)')
  .option('--json', 'print JSON (for scripts)')
  .action((flags: CreateKeyFlags) => runKeys((pool) => createKey(pool, flags)));
keys
  .command('list')
  .description('list the keys in force (never their secrets)')
  .option('--all', 'include revoked keys')
  .option('--json', 'print JSON')
  .action((flags: { json?: boolean; all?: boolean }) => runKeys((pool) => listKeys(pool, flags)));
keys
  .command('revoke')
  .description('revoke one key, by id (or by name with --name); refused from the next request on')
  .argument('[id]', 'the key\'s id, as keys list shows it')
  .option('--name <name>', 'revoke the key in force with this name instead')
  .action((id: string | undefined, flags: { name?: string }) => runKeys((pool) => revokeKey(pool, { id, name: flags.name })));

program.parseAsync(process.argv).catch((err: unknown) => {
  fail(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, 1);
});
