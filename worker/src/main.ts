// The worker process and operator commands: `npm run worker -- --queues a,b --concurrency 8`,
// `npm run migrate`, `npm run keys -- create|list|revoke`. Reads the environment (see README);
// flags override it. `--help` lists all.
import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import {
  ConfigError,
  DEFAULTS,
  QUEUE_NAME_RULE,
  catalogue,
  createLogger,
  createPool,
  isValidQueueName,
  loadCommonConfig,
  loadWorkerConfig,
  migrate,
  type WorkerFlags,
} from '../../shared/src/index.js';
import { runDeadLetterCommand } from './dead-letters-cli.js';
import { KeysUsageError, createKey, listKeys, revokeKey, type CreateKeyFlags } from './keys-command.js';
import { Worker } from './worker.js';

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

async function runWorker(flags: WorkerFlags): Promise<void> {
  const config = configOrExit(() =>
    loadWorkerConfig(process.env, flags, { queues: catalogue.defaultQueues(), cpus: availableParallelism() }),
  );
  const logger = createLogger({ service: 'worker', level: config.logLevel });
  let worker: Worker;
  try {
    worker = await Worker.create({
      config,
      logger,
      schema: config.databaseSchema,
      ...(config.metricsPort > 0 ? { metrics: { port: config.metricsPort, host: config.metricsHost, access: config.metricsAccess } } : {}),
    });
  } catch (err) {
    logger.error('worker could not start', { err });
    process.exit(1);
  }
  logger.info(`worker ${worker.name} consuming ${config.queues.join(', ')} with concurrency ${config.concurrency}`);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn(`second ${signal}: aborting running tasks and exiting; unacked messages go back to the queue`);
      worker.force();
      setTimeout(() => process.exit(130), 500).unref();
      return;
    }
    logger.info(`${signal}: finishing in-flight tasks (a second signal forces exit)`);
    worker.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('worker shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
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

const program = new Command('celerity')
  .description('Celerity worker and operator commands')
  .showHelpAfterError();

program
  .command('worker', { isDefault: true })
  .description('consume task queues and run tasks')
  .option('-Q, --queues <names>', `comma-separated queues to consume (env WORKER_QUEUES; default: ${catalogue.defaultQueues().join(',')})`)
  .option('-c, --concurrency <n>', `tasks run at once (env WORKER_CONCURRENCY; default ${DEFAULTS.workerConcurrency})`)
  .option('-E, --task-events', 'publish task events on celeryev, as Celery\'s -E (env WORKER_TASK_EVENTS; default off)')
  .option('--metrics-port <port>', `port of /metrics, /healthz and /readyz, 0 = off (env WORKER_METRICS_PORT; default ${DEFAULTS.workerMetricsPort})`)
  .option('--metrics-host <address>', `address they bind to; beyond loopback /metrics needs METRICS_TOKEN or AUTH_MODE=keys (env WORKER_METRICS_HOST; default ${DEFAULTS.workerMetricsHost})`)
  .action((flags: WorkerFlags) => runWorker(flags));

program.command('migrate').description('apply database migrations (safe to run again, and concurrently)').action(() => runMigrate());

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
  .requiredOption('--scopes <list>', 'comma-separated: admin, tasks:read, task-name patterns such as demo.* or *')
  .option('--rate <n>', 'requests per minute for this key (default: the gateway\'s RATE_LIMIT_PER_MINUTE)')
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
  .description('revoke a key by id or name; refused from the next request on')
  .argument('<id-or-name>')
  .action((idOrName: string) => runKeys((pool) => revokeKey(pool, idOrName)));

program.parseAsync(process.argv).catch((err: unknown) => {
  fail(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, 1);
});
