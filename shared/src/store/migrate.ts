/**
 * Applies the numbered migrations to one schema. Safe to run again (applied ones are
 * skipped) and safe to run from several processes at once (an advisory lock serialises them).
 *
 * `ensureSchema` is the start-up check of the worker and the gateway: it reads the schema's
 * version before they consume or listen, migrates a schema that is behind (by default, under
 * the same lock, so N processes starting together migrate it once, as pg-boss and
 * graphile-worker do), and refuses a schema that is newer than this code.
 */
import type pg from 'pg';
import type { Logger } from '../core/index.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { assertSchemaName, createPool } from './pool.js';
import { CREATE_MIGRATIONS_TABLE, INSERT_APPLIED_MIGRATION, LOCK_MIGRATIONS, SELECT_APPLIED_MIGRATIONS } from './statements.js';

export interface MigrateResult {
  applied: number[];
  current: number;
}

/** The latest migration this code knows. */
export const LATEST_SCHEMA_VERSION = Math.max(0, ...MIGRATIONS.map((m) => m.id));

/**
 * The schema cannot be used by this code: not migrated (`SCHEMA_NOT_MIGRATED`, with automatic
 * migration turned off) or migrated by a newer Celerity (`SCHEMA_AHEAD`).
 */
export class SchemaVersionError extends Error {
  override readonly name = 'SchemaVersionError';
  constructor(
    readonly code: 'SCHEMA_NOT_MIGRATED' | 'SCHEMA_AHEAD',
    /** The schema's version (0: none of Celerity's tables). */
    readonly current: number,
    /** The newest version this code knows. */
    readonly latest: number,
    message: string,
  ) {
    super(message);
  }
}

function schemaAhead(schema: string, current: number, latest: number): SchemaVersionError {
  return new SchemaVersionError(
    'SCHEMA_AHEAD',
    current,
    latest,
    `database schema "${schema}" is at version ${current}, newer than this celerity's ${latest}: upgrade celerity (a newer version migrated it)`,
  );
}

export async function migrate(
  pool: pg.Pool,
  schema: string,
  logger: Logger,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrateResult> {
  assertSchemaName(schema);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(LOCK_MIGRATIONS, [schema]);
    // The name was checked against a strict pattern above, so quoting it is enough here.
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(`SET LOCAL search_path TO "${schema}"`);
    await client.query(CREATE_MIGRATIONS_TABLE);
    const { rows } = await client.query<{ id: number }>(SELECT_APPLIED_MIGRATIONS);
    const done = new Set(rows.map((r) => r.id));
    const latest = Math.max(0, ...migrations.map((m) => m.id));
    const before = Math.max(0, ...done);
    // Applying older migrations under a newer schema could only break it.
    if (before > latest) throw schemaAhead(schema, before, latest);
    const applied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.id - b.id)) {
      if (done.has(migration.id)) continue;
      await client.query(migration.sql);
      await client.query(INSERT_APPLIED_MIGRATION, [migration.id, migration.name]);
      applied.push(migration.id);
      logger.info('applied migration', { schema, migration: migration.id, name: migration.name });
    }
    await client.query('COMMIT');
    const current = Math.max(0, ...done, ...applied);
    return { applied, current };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** The migrations applied to `schema`, read without creating anything; [] when it has none. */
async function appliedMigrations(pool: pg.Pool, schema: string): Promise<number[]> {
  assertSchemaName(schema);
  const { rows: table } = await pool.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [`"${schema}".schema_migrations`]);
  if (!table[0]?.exists) return [];
  const { rows } = await pool.query<{ id: number }>(`SELECT id FROM "${schema}".schema_migrations ORDER BY id`);
  return rows.map((r) => r.id);
}

export interface EnsureSchemaOptions {
  /** Migrate a schema that is behind; false refuses it instead. @default true */
  migrate?: boolean;
  /** @default MIGRATIONS */
  migrations?: readonly Migration[];
}

/** What `ensureSchema` found and did. */
export interface SchemaCheck {
  /** The version the schema had before the check. */
  found: number;
  /** The migrations this process applied (empty when it was up to date, or another process migrated it first). */
  applied: number[];
  current: number;
}

/**
 * Checks `schema` against this code's migrations: up to date → nothing; behind (or absent) →
 * migrated, or SchemaVersionError SCHEMA_NOT_MIGRATED when `migrate` is false; newer → always
 * SchemaVersionError SCHEMA_AHEAD. Database errors (unreachable, refused login) propagate.
 */
async function ensureSchema(pool: pg.Pool, schema: string, logger: Logger, options: EnsureSchemaOptions = {}): Promise<SchemaCheck> {
  const migrations = options.migrations ?? MIGRATIONS;
  const known = migrations.map((m) => m.id);
  const latest = Math.max(0, ...known);
  const applied = await appliedMigrations(pool, schema);
  const found = Math.max(0, ...applied);
  if (found > latest) throw schemaAhead(schema, found, latest);
  const missing = known.filter((id) => !applied.includes(id));
  if (missing.length === 0) return { found, applied: [], current: found };
  if (options.migrate === false) {
    throw new SchemaVersionError(
      'SCHEMA_NOT_MIGRATED',
      found,
      latest,
      `database schema "${schema}" is at version ${found}, this celerity needs ${latest}: run \`celerity migrate\` (automatic migration is off)`,
    );
  }
  // Under the advisory lock: the first process applies them, the others find them applied.
  const result = await migrate(pool, schema, logger, migrations);
  if (result.applied.length > 0) logger.info(`migrated schema ${schema} from version ${found} to ${result.current}`, { schema, from: found, to: result.current });
  return { found, applied: result.applied, current: result.current };
}

/** `ensureSchema` on a connection of its own: the start-up step of createWorker and createGateway. */
export async function ensureSchemaAt(databaseUrl: string, schema: string, logger: Logger, options: EnsureSchemaOptions = {}): Promise<SchemaCheck> {
  const pool = createPool({ url: databaseUrl, schema, logger, applicationName: 'celerity-schema-check', max: 1 });
  try {
    return await ensureSchema(pool, schema, logger, options);
  } finally {
    await pool.end().catch(() => undefined);
  }
}
