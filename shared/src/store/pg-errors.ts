/**
 * Which PostgreSQL errors are worth retrying, keyed by SQLSTATE (node-postgres exposes it as
 * `err.code`). Everything not listed as retryable fails fast: retrying a data error (a value
 * the server refuses) or a programming error (a missing table) only holds a worker's slot.
 *
 * | SQLSTATE / class | name                                   | retry? | why |
 * |------------------|----------------------------------------|--------|-----|
 * | 08xxx            | connection_exception (all)             | yes    | the connection dropped; the pool opens a new one |
 * | 40001            | serialization_failure                  | yes    | a concurrent transaction won; running it again succeeds |
 * | 40P01            | deadlock_detected                      | yes    | PostgreSQL aborted one side of a lock cycle |
 * | 53000/53200/53300| insufficient_resources, out_of_memory, too_many_connections | yes | transient pressure on the server |
 * | 55P03            | lock_not_available                     | yes    | a lock timeout; the holder lets go |
 * | 57014            | query_canceled (statement_timeout)     | yes    | a slow moment; bounded by the caller's retry budget |
 * | 57P01/57P02/57P03| admin/crash shutdown, cannot_connect_now | yes  | the server restarts or recovers |
 * | 58000/58030      | system_error, io_error                 | yes    | the server's disk or OS hiccuped |
 * | 22xxx            | data_exception (22P05 U+0000, 22P02, 22021 …) | no | the value is refused and always will be |
 * | 23xxx            | integrity_constraint_violation         | no     | the row breaks a constraint |
 * | 25xxx            | invalid_transaction_state              | no     | a bug in how the statement is run |
 * | 42P01, 3F000     | undefined_table, invalid_schema_name   | yes    | the store is unusable, not the value refused: the schema is missing (never migrated, or dropped); a retry works once `celerity migrate` ran, and the message must not be acked meanwhile |
 * | 42xxx (others)   | syntax_error_or_access_rule_violation  | no     | a bug |
 * | 53100            | disk_full                              | no     | needs an operator; retrying fills the log, not the disk |
 * | 54xxx            | program_limit_exceeded (54001 depth)   | no     | the value is too big or deep for the server |
 * | XX000…           | internal_error, data_corrupted         | no     | needs an operator |
 * | other codes      |                                        | no     | unknown: fail fast and say so |
 * | ECONNREFUSED …   | node socket errors (below)             | yes    | the server is not reachable right now |
 */
const RETRYABLE_SQLSTATES: ReadonlySet<string> = new Set([
  '40001',
  '40P01',
  '53000',
  '53200',
  '53300',
  '55P03',
  '57014',
  '57P01',
  '57P02',
  '57P03',
  '58000',
  '58030',
  // The schema is missing: "store unusable" (the worker keeps the message and /readyz says 503),
  // never "value refused" (which would record a FAILURE, fail too, and ack a lost outcome).
  '42P01',
  '3F000',
]);

/** SQLSTATE classes (first two characters) that are retryable as a whole. */
const RETRYABLE_CLASSES: ReadonlySet<string> = new Set(['08']);

/** Node socket errors that mean "the database is not reachable right now". */
const RETRYABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

export function isRetryablePgError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (RETRYABLE_SQLSTATES.has(code) || RETRYABLE_NODE_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return RETRYABLE_CLASSES.has(code.slice(0, 2));
  }
  // node-postgres rejects queries on a client whose connection dropped with plain Errors
  // ("Connection terminated unexpectedly", "timeout exceeded when trying to connect"); they
  // carry no code, but they are transport failures. Known texts of the driver, not of users.
  return err.message.startsWith('Connection terminated') || err.message.startsWith('timeout exceeded when trying to connect');
}
