/**
 * Applies the numbered migrations to one schema. Safe to run again (applied ones are
 * skipped) and safe to run from several processes at once (an advisory lock serialises them).
 */
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { assertSchemaName } from './pool.js';
import { CREATE_MIGRATIONS_TABLE, INSERT_APPLIED_MIGRATION, LOCK_MIGRATIONS, SELECT_APPLIED_MIGRATIONS } from './statements.js';

export interface MigrateResult {
  applied: number[];
  current: number;
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
