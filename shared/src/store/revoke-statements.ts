/**
 * The statements of revokes (migration 7), by name. Parameterised, like statements.ts; the
 * claim's side (a revoked id never starts) is in CLAIM_TASKS there.
 */
import { FINAL_STATES } from '../core/index.js';

const FINAL_SQL = `(${[...FINAL_STATES].map((s) => `'${s}'`).join(', ')})`;

/** Celery's name for the error of a revoked task (`celery.exceptions.TaskRevokedError`). */
export const REVOKED_ERROR_TYPE = 'TaskRevokedError';

/**
 * Records revokes of tasks $1 (text[]): terminate $2, reason $3, by $4. Idempotent: a second
 * revoke of an id keeps its first time, reason and author, and only ever adds `terminate`.
 * Returns each id with whether this statement created its row.
 */
export const RECORD_REVOCATIONS = `
  INSERT INTO revocations AS v (task_id, terminate, reason, revoked_by)
  SELECT DISTINCT id, $2::boolean, $3::text, $4::text FROM unnest($1::text[]) AS id
  ON CONFLICT (task_id) DO UPDATE SET terminate = v.terminate OR EXCLUDED.terminate
  RETURNING task_id, terminate, revoked_at, (xmax = 0) AS created
`;

/**
 * Ends tasks $1 (text[]) as REVOKED (reason $2) where they have not started: not final, and
 * not STARTED under a live lease (a task running now keeps running unless a worker terminates
 * it; one whose worker died, its lease lapsed, is revoked here). Rows locked in id order.
 */
export const REVOKE_WAITING_TASKS = `
  UPDATE tasks t SET state = 'REVOKED', error_type = '${REVOKED_ERROR_TYPE}', error_message = $2::text,
                     finished_at = now(), updated_at = now(), lease_expires_at = NULL, lease_holder = NULL
  WHERE t.id IN (SELECT id FROM tasks WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE)
    AND t.state NOT IN ${FINAL_SQL}
    AND NOT (t.state = 'STARTED' AND COALESCE(t.lease_expires_at, '-infinity') > now())
`;

/**
 * Writes REVOKED rows ($1: JSON array of {id, name, queue, owner}, reason $2) for tasks the
 * caller knows but the store has no row of yet (a PENDING write still batched). A row that
 * exists was ended by REVOKE_WAITING_TASKS, or was written since that statement read (the
 * PENDING write landed in between): then it is ended here on the same terms, so the task's
 * error carries the revoke's reason rather than the bare 'revoked' its worker's refusal writes.
 */
export const INSERT_REVOKED_TASKS = `
  INSERT INTO tasks AS t (id, name, queue, state, error_type, error_message, finished_at, owner)
  SELECT id, name, queue, 'REVOKED', '${REVOKED_ERROR_TYPE}', $2::text, now(), owner
  FROM jsonb_to_recordset($1::jsonb) AS r(id text, name text, queue text, owner text)
  ORDER BY id
  ON CONFLICT (id) DO UPDATE SET state = 'REVOKED', error_type = EXCLUDED.error_type, error_message = EXCLUDED.error_message,
                                 finished_at = now(), updated_at = now(), lease_expires_at = NULL, lease_holder = NULL
    WHERE t.name = EXCLUDED.name
      AND t.state NOT IN ${FINAL_SQL}
      AND NOT (t.state = 'STARTED' AND COALESCE(t.lease_expires_at, '-infinity') > now())
`;

/**
 * Deletes up to $2 revocations made before $1 whose task is final: its row refuses a claim by
 * itself. A revocation without a row (a task that may still wait in a queue) is kept.
 */
export const DELETE_EXPIRED_REVOCATIONS = `
  DELETE FROM revocations WHERE task_id IN (
    SELECT v.task_id FROM revocations v JOIN tasks t ON t.id = v.task_id
    WHERE v.revoked_at < $1 AND t.state IN ${FINAL_SQL} ORDER BY v.revoked_at LIMIT $2
  )
`;

/** The ids among $1 (text[]) that are revoked. */
export const SELECT_REVOKED_AMONG = `SELECT task_id FROM revocations WHERE task_id = ANY($1::text[])`;

/** Revokes since $1 (timestamptz), newest first, at most $2. */
export const SELECT_RECENT_REVOCATIONS = `
  SELECT task_id, terminate, reason, revoked_at FROM revocations WHERE revoked_at >= $1 ORDER BY revoked_at DESC LIMIT $2
`;
