/**
 * Every SQL statement the store runs, by name. Parameterised; the schema comes from the
 * connection's search_path, never from string interpolation.
 */
import { FINAL_STATES } from '../core/index.js';

const TASK_COLUMNS = `id, name, queue, state, args, kwargs, result, error_type, error_message, retries, worker,
  created_at, started_at, finished_at, updated_at, attempts, deliveries, owner, lease_expires_at, lease_holder`;

/** The final states as an SQL list, written from task.ts (the one home of the states). */
const FINAL_SQL = `(${[...FINAL_STATES].map((s) => `'${s}'`).join(', ')})`;

/** True when the stored row (t) is held by a live lease of another delivery than the incoming row's. */
const LEASED_BY_OTHER = `(COALESCE(t.lease_expires_at, '-infinity') > now() AND t.lease_holder IS DISTINCT FROM EXCLUDED.lease_holder)`;

/**
 * True when the incoming row (EXCLUDED) replaces the stored one (t): its state order is higher
 * (see celerity_state_order), and no other delivery holds a live lease on the task (a copy
 * whose lease lapsed and was taken over cannot overwrite the run that took it over).
 */
const NEWER = `(celerity_state_order(EXCLUDED.state, EXCLUDED.retries) > celerity_state_order(t.state, t.retries) AND NOT ${LEASED_BY_OTHER})`;

/**
 * Writes a batch of task states in one statement. $1 is a JSON array of rows. A row only
 * replaces what is stored when it is NEWER, so writes may arrive in any order; created_at
 * keeps the earliest value seen. A row never touches a task of another name (a message that
 * reuses an id). Rows are sorted by id by the caller, so concurrent batches lock rows in the
 * same order (no deadlocks). Returns the rows it changed, as they now are.
 */
export const UPSERT_TASKS = `
  INSERT INTO tasks AS t (id, name, queue, state, args, kwargs, result, error_type, error_message, retries, worker,
                          created_at, started_at, finished_at, attempts, deliveries, owner, lease_expires_at, lease_holder)
  SELECT id, name, queue, state, COALESCE(args, '[]'), COALESCE(kwargs, '{}'), result, error_type, error_message,
         COALESCE(retries, 0), worker, COALESCE(created_at, now()), started_at, finished_at,
         COALESCE(attempts, 0), COALESCE(deliveries, 0), owner, lease_expires_at, lease_holder
  FROM jsonb_to_recordset($1::jsonb) AS r(
    id text, name text, queue text, state text, args jsonb, kwargs jsonb, result jsonb, error_type text,
    error_message text, retries integer, worker text, created_at timestamptz, started_at timestamptz,
    finished_at timestamptz, attempts integer, deliveries integer, owner text, lease_expires_at timestamptz,
    lease_holder text)
  ON CONFLICT (id) DO UPDATE SET
    state         = CASE WHEN ${NEWER} THEN EXCLUDED.state ELSE t.state END,
    result        = CASE WHEN ${NEWER} THEN EXCLUDED.result ELSE t.result END,
    error_type    = CASE WHEN ${NEWER} THEN EXCLUDED.error_type ELSE t.error_type END,
    error_message = CASE WHEN ${NEWER} THEN EXCLUDED.error_message ELSE t.error_message END,
    retries       = CASE WHEN ${NEWER} THEN EXCLUDED.retries ELSE t.retries END,
    worker        = CASE WHEN ${NEWER} THEN COALESCE(EXCLUDED.worker, t.worker) ELSE t.worker END,
    started_at    = CASE WHEN ${NEWER} THEN COALESCE(EXCLUDED.started_at, t.started_at)
                         ELSE COALESCE(t.started_at, EXCLUDED.started_at) END,
    finished_at   = CASE WHEN ${NEWER} THEN EXCLUDED.finished_at ELSE t.finished_at END,
    created_at    = LEAST(t.created_at, EXCLUDED.created_at),
    -- Counters only grow, whatever order the writes arrive in.
    attempts      = GREATEST(t.attempts, EXCLUDED.attempts),
    deliveries    = CASE WHEN EXCLUDED.retries > t.retries THEN EXCLUDED.deliveries
                         ELSE GREATEST(t.deliveries, EXCLUDED.deliveries) END,
    updated_at    = CASE WHEN ${NEWER} THEN now() ELSE t.updated_at END,
    owner         = COALESCE(t.owner, EXCLUDED.owner),
    -- A newer state brings its own lease (none once final); the holder's own write of the
    -- same order may extend it; nobody else's does.
    lease_expires_at = CASE WHEN ${NEWER} THEN EXCLUDED.lease_expires_at
                            WHEN t.lease_holder IS NOT DISTINCT FROM EXCLUDED.lease_holder
                            THEN GREATEST(t.lease_expires_at, EXCLUDED.lease_expires_at)
                            ELSE t.lease_expires_at END,
    lease_holder  = CASE WHEN ${NEWER} THEN EXCLUDED.lease_holder ELSE t.lease_holder END
  WHERE t.name = EXCLUDED.name AND (
        ${NEWER} OR EXCLUDED.created_at < t.created_at
     OR (t.started_at IS NULL AND EXCLUDED.started_at IS NOT NULL)
     OR EXCLUDED.attempts > t.attempts OR EXCLUDED.deliveries > t.deliveries
     OR (t.owner IS NULL AND EXCLUDED.owner IS NOT NULL)
     OR (t.lease_holder IS NOT DISTINCT FROM EXCLUDED.lease_holder
         AND EXCLUDED.lease_expires_at > COALESCE(t.lease_expires_at, '-infinity')))
  RETURNING t.id, t.state, t.finished_at
`;

/**
 * Claims the runs of a batch of tasks: each row ($1, a JSON array) becomes STARTED with a lease
 * of lease_ms held by lease_holder (one delivery), unless the stored task forbids it: it has
 * another name (a message reusing an id), it is final, another delivery holds a live lease, or
 * it is further on (its retry was already scheduled), or it was revoked. Claiming counts the start: attempts
 * over the task's life, deliveries of this attempt. Returns the rows it claimed; a row missing
 * from the answer was refused (SELECT_TASKS says why). Lease times are the database's clock.
 */
export const CLAIM_TASKS = `
  INSERT INTO tasks AS t (id, name, queue, state, args, kwargs, retries, worker, created_at, started_at,
                          attempts, deliveries, owner, lease_expires_at, lease_holder)
  SELECT id, name, queue, 'STARTED', COALESCE(args, '[]'), COALESCE(kwargs, '{}'), retries, worker,
         COALESCE(created_at, now()), started_at, retries + 1, 1, owner,
         now() + lease_ms * interval '1 millisecond', lease_holder
  FROM jsonb_to_recordset($1::jsonb) AS r(
    id text, name text, queue text, args jsonb, kwargs jsonb, retries integer, worker text, created_at timestamptz,
    started_at timestamptz, owner text, lease_ms integer, lease_holder text)
  -- A revoked id never starts (migration 7), whether or not it has a row yet.
  WHERE NOT EXISTS (SELECT 1 FROM revocations v WHERE v.task_id = r.id)
  ON CONFLICT (id) DO UPDATE SET
    state = 'STARTED', result = NULL, error_type = NULL, error_message = NULL, retries = EXCLUDED.retries,
    worker = EXCLUDED.worker, started_at = EXCLUDED.started_at, finished_at = NULL,
    created_at = LEAST(t.created_at, EXCLUDED.created_at),
    attempts = GREATEST(t.attempts, EXCLUDED.retries) + 1,
    deliveries = CASE WHEN t.retries = EXCLUDED.retries THEN t.deliveries + 1 ELSE 1 END,
    updated_at = now(), owner = COALESCE(t.owner, EXCLUDED.owner),
    lease_expires_at = EXCLUDED.lease_expires_at, lease_holder = EXCLUDED.lease_holder
  WHERE t.name = EXCLUDED.name AND t.state NOT IN ${FINAL_SQL} AND NOT ${LEASED_BY_OTHER}
    AND celerity_state_order('STARTED', EXCLUDED.retries) >= celerity_state_order(t.state, t.retries)
  RETURNING t.id, t.attempts, t.deliveries
`;

/** The tasks among $1 (text[]). */
export const SELECT_TASKS = `SELECT ${TASK_COLUMNS} FROM tasks WHERE id = ANY($1::text[])`;

/**
 * Renews the leases of tasks $1 (text[]) held by $2 (text[], the holder of each) for $3 ms
 * from now, while they are STARTED: only what each delivery holds itself.
 */
export const RENEW_TASK_LEASES = `
  UPDATE tasks t SET lease_expires_at = now() + $3::integer * interval '1 millisecond'
  FROM unnest($1::text[], $2::text[]) AS h(id, holder)
  WHERE t.id = h.id AND t.lease_holder = h.holder AND t.state = 'STARTED'
`;

/**
 * Puts dead-lettered tasks ($1 text[]) back to PENDING before they are re-driven: a re-drive
 * is a new life for the task (retries and deliveries start again), so the forward-only
 * upsert must not keep the old FAILURE. attempts keeps counting.
 * Only a task in FAILURE is reset: one that finished otherwise (a duplicate dead letter of a
 * task that since succeeded) or is running again is left alone (`reset` false: skipped).
 * Returns each existing row's state before the reset, so a failed publish can be undone
 * (RESTORE_TASKS_AFTER_FAILED_REDRIVE); ids without a row are absent and re-driven as they are.
 */
export const RESET_TASKS_FOR_REDRIVE = `
  WITH old AS (
    SELECT id, state, result, error_type, error_message, retries, deliveries, finished_at
    FROM tasks WHERE id = ANY($1::text[]) FOR UPDATE
  ), reset AS (
    UPDATE tasks t SET state = 'PENDING', result = NULL, error_type = NULL, error_message = NULL, retries = 0,
                       deliveries = 0, finished_at = NULL, updated_at = now()
    FROM old WHERE t.id = old.id AND old.state = 'FAILURE'
    RETURNING t.id
  )
  SELECT old.*, old.id IN (SELECT id FROM reset) AS reset FROM old
`;

/**
 * Puts tasks reset by RESET_TASKS_FOR_REDRIVE back as they were ($1: JSON array of the rows it
 * returned) when their re-publish failed, unless something has moved them on since.
 */
export const RESTORE_TASKS_AFTER_FAILED_REDRIVE = `
  UPDATE tasks t SET state = r.state, result = r.result, error_type = r.error_type, error_message = r.error_message,
                     retries = r.retries, deliveries = r.deliveries, finished_at = r.finished_at, updated_at = now()
  FROM jsonb_to_recordset($1::jsonb) AS r(id text, state text, result jsonb, error_type text, error_message text,
                                          retries integer, deliveries integer, finished_at timestamptz)
  WHERE t.id = r.id AND t.state = 'PENDING'
`;

/**
 * Claims idempotency key $1 for task $2 (fingerprint $3) when it is free or its claim is
 * older than $4 (the window's start); returns a row only then. No row: the key is held, and
 * SELECT_IDEMPOTENCY_KEY says by which task.
 */
export const CLAIM_IDEMPOTENCY_KEY = `
  INSERT INTO idempotency_keys AS k (key, task_id, fingerprint, unconfirmed) VALUES ($1, $2, $3, true)
  ON CONFLICT (key) DO UPDATE SET task_id = EXCLUDED.task_id, fingerprint = EXCLUDED.fingerprint, unconfirmed = true, created_at = now()
    WHERE k.created_at < $4
  RETURNING task_id
`;

export const SELECT_IDEMPOTENCY_KEY = `SELECT task_id, fingerprint, unconfirmed FROM idempotency_keys WHERE key = $1`;

/**
 * Marks key $1 (held by task $2) as confirmed: the broker confirmed a publish of its task. A
 * key is claimed unconfirmed, so a claim whose publish never got a confirm (it failed, it is
 * still in flight, or its process died) is republished by the next submit with the key.
 */
export const CONFIRM_IDEMPOTENCY_KEY = `UPDATE idempotency_keys SET unconfirmed = false WHERE key = $1 AND task_id = $2`;

/**
 * Deletes up to $2 idempotency keys claimed before $1, except a singleton dedupe key whose task
 * is still not final (it holds the key for as long as it runs, however long that is).
 */
export const DELETE_EXPIRED_IDEMPOTENCY_KEYS = `
  DELETE FROM idempotency_keys WHERE key IN (
    SELECT k.key FROM idempotency_keys k
    WHERE k.created_at < $1
      AND NOT (k.dedupe_mode = 'singleton' AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = k.task_id AND t.state NOT IN ${FINAL_SQL}))
    ORDER BY k.created_at LIMIT $2
  )
`;

/**
 * Claims dedupe key $1 for task $2 (fingerprint $3, mode $4, eta $5) when nobody holds it;
 * returns a row only then. Run in the dedupe transaction (IdempotencyKeys.claimDedupe): when it
 * returns none, SELECT_DEDUPE_KEY locks the holder's row. clock_timestamp(), not now(): the
 * transaction may have waited for another one's lock, and a throttle window counts from the claim.
 */
export const INSERT_DEDUPE_KEY = `
  INSERT INTO idempotency_keys (key, task_id, fingerprint, unconfirmed, dedupe_mode, run_at, created_at)
  VALUES ($1, $2, $3, true, $4, $5, clock_timestamp())
  ON CONFLICT (key) DO NOTHING
  RETURNING task_id
`;

/** The task holding dedupe key $1, locked, with whether its stored state is final, and the clock. */
export const SELECT_DEDUPE_KEY = `
  SELECT k.task_id, k.unconfirmed, k.created_at, k.run_at, COALESCE(t.state IN ${FINAL_SQL}, false) AS final, clock_timestamp() AS now
  FROM idempotency_keys k LEFT JOIN tasks t ON t.id = k.task_id
  WHERE k.key = $1
  FOR UPDATE OF k
`;

/** Gives dedupe key $1 (locked by SELECT_DEDUPE_KEY) to task $2 (fingerprint $3, mode $4, eta $5), unconfirmed. */
export const TAKE_DEDUPE_KEY = `
  UPDATE idempotency_keys SET task_id = $2, fingerprint = $3, unconfirmed = true, dedupe_mode = $4, run_at = $5, created_at = clock_timestamp()
  WHERE key = $1
`;

/**
 * Frees dedupe key $1 if task $2 still holds it unconfirmed: its publish failed, so the next
 * submit with the key claims it instead of waiting for a confirm that will not come.
 */
export const RELEASE_DEDUPE_KEY = `DELETE FROM idempotency_keys WHERE key = $1 AND task_id = $2 AND unconfirmed`;

export const SELECT_TASK = `SELECT ${TASK_COLUMNS} FROM tasks WHERE id = $1`;

/** The tasks among $1 (text[]) that have reached a final state. */
export const SELECT_FINISHED_TASKS = `
  SELECT ${TASK_COLUMNS} FROM tasks
  WHERE id = ANY($1::text[]) AND state IN ${FINAL_SQL}
`;

/**
 * Deletes up to $2 tasks that reached a final state and last changed before $1; run in a loop
 * until it deletes fewer. Only final states: a PENDING, RECEIVED, STARTED or RETRY row may
 * belong to a task still waiting for its countdown or eta (up to 30 days, longer than the
 * retention) or for a retry, and its owner must keep reading it.
 */
export const DELETE_EXPIRED_TASKS = `
  DELETE FROM tasks WHERE id IN (
    SELECT id FROM tasks WHERE updated_at < $1 AND state IN ${FINAL_SQL} ORDER BY updated_at LIMIT $2
  )
`;

/** Removes the PENDING row of a submit whose publish failed (the caller got an error). */
export const DELETE_UNPUBLISHED_TASK = `DELETE FROM tasks WHERE id = $1 AND state = 'PENDING'`;

export const SELECT_APPLIED_MIGRATIONS = 'SELECT id FROM schema_migrations ORDER BY id';
export const INSERT_APPLIED_MIGRATION = 'INSERT INTO schema_migrations (id, name) VALUES ($1, $2)';
export const CREATE_MIGRATIONS_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    id         integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )
`;
/** Serialises concurrent migrators of the same schema for the length of one transaction. */
export const LOCK_MIGRATIONS = `SELECT pg_advisory_xact_lock(hashtext('celerity.migrate.' || $1))`;

/**
 * Task search for the dashboard and `GET /api/v1/tasks`: every filter is optional (NULL = any),
 * newest first, keyset-paged on (created_at, id). The cursor carries created_at as PostgreSQL's
 * own text (microseconds, offset), so no row is skipped or repeated between pages.
 *   $1 id, $2 name, $3 states (text[]), $4 queue, $5 created from (inclusive), $6 created before,
 *   $7/$8 cursor (created_at, id) of the last row of the previous page, $9 page size.
 * Not prepared by name: each search is planned with its values, so the planner picks the
 * (name|state, created_at) index that fits the filters given.
 */
export const SEARCH_TASKS = `
  SELECT ${TASK_COLUMNS}, created_at::text AS cursor_created_at FROM tasks
  WHERE ($1::text IS NULL OR id = $1)
    AND ($2::text IS NULL OR name = $2)
    AND ($3::text[] IS NULL OR state = ANY($3::text[]))
    AND ($4::text IS NULL OR queue = $4)
    AND ($5::timestamptz IS NULL OR created_at >= $5)
    AND ($6::timestamptz IS NULL OR created_at < $6)
    AND ($7::timestamptz IS NULL OR (created_at, id) < ($7::timestamptz, $8::text))
  ORDER BY created_at DESC, id DESC
  LIMIT $9
`;
// API keys and dashboard sessions (migration 3). Secrets and session tokens are stored as
// SHA-256 hashes only.
const API_KEY_COLUMNS = 'id, name, scopes, rate_per_minute, created_at, revoked_at';
export const INSERT_API_KEY = `
  INSERT INTO api_keys (id, name, secret_hash, scopes, rate_per_minute) VALUES ($1, $2, $3, $4, $5)
  RETURNING ${API_KEY_COLUMNS}
`;
export const SELECT_API_KEYS = `SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`;
/** The key in force with id $1 (with its hash, to compare in constant time). */
export const SELECT_ACTIVE_API_KEY = `
  SELECT ${API_KEY_COLUMNS}, secret_hash FROM api_keys WHERE id = $1 AND revoked_at IS NULL
`;
export const COUNT_ACTIVE_API_KEYS = 'SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL';
/** Revokes the key in force whose id or name is $1, and ends its dashboard sessions. */
export const REVOKE_API_KEY = `
  WITH revoked AS (
    UPDATE api_keys SET revoked_at = now()
    WHERE (CASE WHEN $2::boolean THEN name ELSE id END) = $1 AND revoked_at IS NULL
    RETURNING ${API_KEY_COLUMNS}
  ), ended AS (
    DELETE FROM api_key_sessions WHERE key_id IN (SELECT id FROM revoked)
  )
  SELECT * FROM revoked
`;
export const INSERT_API_KEY_SESSION = `
  INSERT INTO api_key_sessions (token_hash, key_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
`;
/** The key behind an unexpired session, if the key is still in force. */
export const SELECT_API_KEY_SESSION = `
  SELECT k.id, k.name, k.scopes, k.rate_per_minute, k.created_at, k.revoked_at
  FROM api_key_sessions s JOIN api_keys k ON k.id = s.key_id
  WHERE s.token_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL
`;
export const DELETE_API_KEY_SESSION = 'DELETE FROM api_key_sessions WHERE token_hash = $1';
export const DELETE_EXPIRED_API_KEY_SESSIONS = 'DELETE FROM api_key_sessions WHERE expires_at <= now()';
