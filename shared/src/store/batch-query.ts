/**
 * Runs one batch statement of the store (a batch of task writes or claims), retried a few
 * times when PostgreSQL reports a retryable error (deadlock, restart), and maps its failures
 * to the store's coded errors: STORE_WRITE_REFUSED (lasting, maybe one row's fault) or
 * DATABASE_UNAVAILABLE (the database is away).
 */
import type pg from 'pg';
import { CelerityError, truncateText } from '../core/index.js';
import type { Logger } from '../core/index.js';
import { isRetryablePgError } from './pg-errors.js';

/** Attempts for one batch when PostgreSQL reports a retryable error (deadlock, restart). */
const FLUSH_ATTEMPTS = 3;

/** A batch statement: a name (prepared once per connection), its text, and the batch as one JSON array. */
export interface BatchStatement {
  name: string;
  text: string;
  /** What the rows are, for errors and logs: "task state(s)", "task claim(s)". */
  what: string;
}

/**
 * Sends `rows` (already sorted by id, so concurrent batches lock rows in the same order) as
 * $1 of `statement`; resolves with the rows the statement returns.
 */
export async function runBatch<Row extends pg.QueryResultRow>(
  pool: pg.Pool,
  statement: BatchStatement,
  rows: readonly Record<string, unknown>[],
  logger: Logger,
): Promise<Row[]> {
  let json: string;
  try {
    json = JSON.stringify(rows);
  } catch (err) {
    // A value that slipped past the store's checks (a toJSON that throws): one row's fault.
    throw new CelerityError('STORE_WRITE_REFUSED', `A ${statement.what} cannot be written as JSON: ${describePgError(err)}`, { cause: err });
  }
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await pool.query<Row>({ name: statement.name, text: statement.text, values: [json] });
      return result.rows;
    } catch (err) {
      if (!isRetryablePgError(err)) {
        throw new CelerityError('STORE_WRITE_REFUSED', `The database refused the write of ${rows.length} ${statement.what}: ${describePgError(err)}`, { cause: err });
      }
      if (attempt >= FLUSH_ATTEMPTS) throw databaseUnavailable(err);
      logger.warn(`retrying a batch of ${statement.what}`, { rows: rows.length, attempt, err });
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
    }
  }
}

/** A copy of `rows` sorted by id, so that concurrent batches take row locks in the same order. */
export function byId<T extends { id: string }>(rows: T[]): T[] {
  return [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function describePgError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? truncateText(err.message, 500) : String(err);
  return typeof code === 'string' ? `${code} ${message}` : message;
}

export function databaseUnavailable(err: unknown): Error {
  if (err instanceof CelerityError) return err;
  if (isRetryablePgError(err)) {
    return new CelerityError('DATABASE_UNAVAILABLE', 'The database is unavailable', { cause: err, retryAfterS: 2 });
  }
  return err instanceof Error ? err : new Error(String(err), { cause: err });
}
