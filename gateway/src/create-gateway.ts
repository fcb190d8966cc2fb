/**
 * `createGateway`: the HTTP gateway started from code, as `celerity gateway --app` starts it
 * from the command line. Settings not given come from the environment, as for the CLI.
 */
import { CelerityError, loggerFromConfig, type Logger } from '../../shared/src/core/index.js';
import { ensureSchemaAt } from '../../shared/src/store/index.js';
import { loadApp, type TaskDefinition } from '../../shared/src/app/index.js';
import { loadGatewayConfig } from '../../shared/src/config/index.js';
import { Gateway } from './gateway.js';

/** Options of {@link createGateway}. Give `app` or `tasks`. */
export interface CreateGatewayOptions {
  /** Path (relative to the current directory) or `file:` URL of the app module whose tasks the gateway accepts. */
  app?: string | URL;
  /** The tasks it accepts, when not loading a module (a definition without `run` is fine here if `external`). */
  tasks?: readonly TaskDefinition[];
  /** HTTP port (0 = any free port). @default GATEWAY_PORT, else 8080 */
  port?: number;
  /** Listen address; anything but loopback needs authentication configured. @default GATEWAY_HOST, else 127.0.0.1 */
  host?: string;
  /** Broker URL(s). @default AMQP_URL, else amqp://guest:guest@127.0.0.1:5672 */
  amqpUrl?: string | string[];
  /** PostgreSQL URL. @default DATABASE_URL, else the local database `celerity` */
  databaseUrl?: string;
  /** PostgreSQL schema holding Celerity's tables. @default DATABASE_SCHEMA, else 'celerity' */
  databaseSchema?: string;
  /**
   * Migrate the database schema at start when it is behind (under an advisory lock: several
   * processes starting together migrate once); false refuses to start instead. A schema newer
   * than this code is always refused. @default AUTO_MIGRATE, else true
   */
  autoMigrate?: boolean;
  /** Where the gateway logs. @default stdout at LOG_LEVEL, in LOG_FORMAT (pretty on a terminal, JSON otherwise) */
  logger?: Logger;
  /** The environment settings default from (authentication, limits, GATEWAY_EXTERNAL_TASKS...). @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
}

/** A running gateway. */
export interface CelerityGateway {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** The port it listens on (useful with `port: 0`). */
  readonly port: number;
  /** The underlying gateway (Express app, metrics, state). */
  readonly gateway: Gateway;
  /** Drains waiting requests, then closes the server and every connection. Safe to call twice. */
  close(): Promise<void>;
}

/** Starts the gateway and resolves once it listens. Rejects (having closed what it opened) when it cannot start. */
export async function createGateway(options: CreateGatewayOptions): Promise<CelerityGateway> {
  if (options.app === undefined && options.tasks === undefined) throw new CelerityError('INVALID_APP', 'give the app module (app) or the tasks (tasks)');
  const loaded = options.app !== undefined ? await loadApp(options.app) : undefined;
  const tasks = [...(loaded?.tasks ?? []), ...(options.tasks ?? [])];
  const env = { ...(options.env ?? process.env) };
  if (options.port !== undefined) env.GATEWAY_PORT = String(options.port);
  if (options.host !== undefined) env.GATEWAY_HOST = options.host;
  if (options.amqpUrl !== undefined) env.AMQP_URL = [options.amqpUrl].flat().join(',');
  if (options.databaseUrl !== undefined) env.DATABASE_URL = options.databaseUrl;
  if (options.databaseSchema !== undefined) env.DATABASE_SCHEMA = options.databaseSchema;
  const config = loadGatewayConfig(env, options.autoMigrate === false ? { migrate: false } : {});
  const logger = options.logger ?? loggerFromConfig('gateway', config);
  // Before listening: a schema this code cannot use is said now, not as a 500 on the first request.
  await ensureSchemaAt(config.databaseUrl, config.databaseSchema, logger, { migrate: options.autoMigrate ?? config.autoMigrate });
  const gateway = await Gateway.create({ config, logger, schema: config.databaseSchema, tasks, schedules: loaded?.schedules ?? [] });
  try {
    const address = await gateway.listen(config.port, config.host);
    const host = address.address.includes(':') ? `[${address.address}]` : address.address;
    return { url: `http://${host}:${address.port}`, port: address.port, gateway, close: () => gateway.close() };
  } catch (err) {
    await gateway.close();
    throw err;
  }
}
