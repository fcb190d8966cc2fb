/**
 * The database step of a start-up (worker, gateway) and of `celerity migrate`: reach
 * PostgreSQL, then check (and by default migrate) the schema, each failure said in terms of the
 * service and the setting that points at it.
 */
import type { CommonConfig } from '../config/index.js';
import {
  createPool,
  ensureSchemaAt,
  isRetryablePgError,
  migrate,
  type MigrateResult,
  type SchemaCheck,
  SchemaVersionError,
} from '../store/index.js';
import { redactSecrets, redactUrl, type Logger } from '../core/index.js';
import { CliError, EXIT } from './exit-codes.js';

/** A PostgreSQL error at start-up as the CliError that names the service, the URL and the setting. */
export function databaseError(err: unknown, url: string, setting = 'DATABASE_URL'): CliError | SchemaVersionError {
  if (err instanceof CliError || err instanceof SchemaVersionError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const reason = redactSecrets(err instanceof Error ? err.message : String(err));
  const where = `${redactUrl(url)} (${setting})`;
  if (typeof code === 'string' && code.startsWith('28')) {
    return new CliError(EXIT.UNREACHABLE, `PostgreSQL refused the login at ${where}: ${reason}`, `check the user and password in ${setting}.`, { cause: err });
  }
  if (code === '3D000') {
    return new CliError(EXIT.UNREACHABLE, `PostgreSQL at ${where} has no such database: ${reason}`, `create it (createdb, or CREATE DATABASE) or fix the database name in ${setting}.`, { cause: err });
  }
  if (isRetryablePgError(err) || (err instanceof Error && err.message.includes('ECONNREFUSED'))) {
    return new CliError(EXIT.UNREACHABLE, `cannot reach PostgreSQL at ${where}: ${reason}`, `is PostgreSQL running and reachable from this host? Check ${setting}.`, { cause: err });
  }
  if (code === '42501') {
    return new CliError(EXIT.FAILED, `PostgreSQL at ${where} refused to create or change the schema: ${reason}`, 'run `celerity migrate` once as a role that owns the database, then start with --no-migrate.', { cause: err });
  }
  return new CliError(EXIT.FAILED, `PostgreSQL at ${where} failed: ${reason}`, 'run it again with --verbose (or DEBUG=1) to see the stack.', { cause: err });
}

type DatabaseConfig = Pick<CommonConfig, 'databaseUrl' | 'databaseSchema' | 'autoMigrate'>;

async function withPool<T>(config: DatabaseConfig, logger: Logger, name: string, use: (pool: ReturnType<typeof createPool>) => Promise<T>): Promise<T> {
  const pool = createPool({ url: config.databaseUrl, schema: config.databaseSchema, logger, applicationName: name, max: 1 });
  try {
    return await use(pool);
  } catch (err) {
    throw databaseError(err, config.databaseUrl);
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/**
 * Before a worker consumes or a gateway listens: the schema at this code's version, migrated
 * when behind unless `autoMigrate` is off (then SchemaVersionError SCHEMA_NOT_MIGRATED).
 */
export async function checkSchemaAtStart(config: DatabaseConfig, logger: Logger): Promise<SchemaCheck> {
  try {
    return await ensureSchemaAt(config.databaseUrl, config.databaseSchema, logger, { migrate: config.autoMigrate });
  } catch (err) {
    throw databaseError(err, config.databaseUrl);
  }
}

/** `celerity migrate`. */
export function migrateSchema(config: DatabaseConfig, logger: Logger): Promise<MigrateResult> {
  return withPool(config, logger, 'celerity-migrate', (pool) => migrate(pool, config.databaseSchema, logger));
}
