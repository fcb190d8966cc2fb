/**
 * Which PostgreSQL errors are worth retrying. Keyed by SQLSTATE, the stable code that
 * node-postgres exposes as `err.code`.
 */
const RETRYABLE_SQLSTATES: ReadonlyMap<string, string> = new Map([
  ['40001', 'serialization_failure: a concurrent transaction won; running it again succeeds'],
  ['40P01', 'deadlock_detected: PostgreSQL aborted one side of a lock cycle'],
  ['57P01', 'admin_shutdown: the server is restarting; the pool reconnects'],
  ['57P02', 'crash_shutdown'],
  ['57P03', 'cannot_connect_now: the server is starting up or in recovery'],
  ['08000', 'connection_exception'],
  ['08003', 'connection_does_not_exist'],
  ['08006', 'connection_failure'],
  ['53300', 'too_many_connections'],
]);

/** Node socket errors that mean "the database is not reachable right now". */
const RETRYABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

export function isRetryablePgError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (RETRYABLE_SQLSTATES.has(code) || RETRYABLE_NODE_CODES.has(code))) return true;
  // node-postgres rejects queries on a client whose connection dropped with plain Errors
  // ("Connection terminated unexpectedly"); they carry no code, but their cause is transport.
  return err.message.startsWith('Connection terminated');
}
