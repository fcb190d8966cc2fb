/** PostgreSQL connection pools, pointed at one schema through the connection's search_path. */
import pg from 'pg';
import type { Logger } from '../core/index.js';
import { isValidSchemaName } from '../core/index.js';

// The rule lives in names.ts (config.ts checks DATABASE_SCHEMA without loading db/).
;

export interface PoolOptions {
  url: string;
  /** Schema holding Celerity's tables; tests use one schema each. @default 'celerity' */
  schema?: string;
  /** @default 10 */
  max?: number;
  logger: Logger;
  applicationName: string;
}

export const DEFAULT_SCHEMA = 'celerity';

export function assertSchemaName(schema: string): void {
  if (!isValidSchemaName(schema)) {
    throw new Error(`Invalid schema name "${schema}": lower-case letters, digits and _, at most 63`);
  }
}

export function createPool(options: PoolOptions): pg.Pool {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  assertSchemaName(schema);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    application_name: options.applicationName,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // Queries must not hang forever when the server stops answering.
    query_timeout: 30_000,
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener
  // that would crash the process. The pool replaces the client on the next checkout.
  pool.on('error', (err) => {
    options.logger.warn('idle database connection failed', { err });
  });
  return pool;
}
