/**
 * The scheduler's SQL, one named statement each (tables: migration 8). The pool's search_path
 * names the schema.
 */

/** Takes the lease when it has lapsed (or is this holder's): a new fencing token each time it changes hands. */
export const ACQUIRE_LEASE = `
  UPDATE beat_lease
     SET holder = $1,
         fencing_token = CASE WHEN holder = $1 AND expires_at > clock_timestamp() THEN fencing_token ELSE fencing_token + 1 END,
         acquired_at = CASE WHEN holder = $1 AND expires_at > clock_timestamp() THEN acquired_at ELSE clock_timestamp() END,
         expires_at = clock_timestamp() + make_interval(secs => $2::double precision / 1000)
   WHERE id = 1 AND (expires_at <= clock_timestamp() OR holder = $1 OR holder IS NULL)
   RETURNING fencing_token, holder`;

/** Extends the lease while this holder still has it under this token. */
export const RENEW_LEASE = `
  UPDATE beat_lease SET expires_at = clock_timestamp() + make_interval(secs => $3::double precision / 1000)
   WHERE id = 1 AND holder = $1 AND fencing_token = $2 AND expires_at > clock_timestamp()
   RETURNING fencing_token`;

/** Gives the lease up (a graceful stop), so another process takes over at once. */
export const RELEASE_LEASE = `UPDATE beat_lease SET expires_at = '-infinity' WHERE id = 1 AND holder = $1 AND fencing_token = $2`;

/** The live lease, if any. */
export const SELECT_LEASE = `SELECT holder, fencing_token, expires_at, acquired_at FROM beat_lease WHERE id = 1 AND expires_at > clock_timestamp()`;

export const SELECT_SCHEDULES = `SELECT name, source, definition, paused, last_run_at, created_at, updated_at FROM schedules ORDER BY name`;

export const SELECT_SCHEDULE = `SELECT name, source, definition, paused, last_run_at, created_at, updated_at FROM schedules WHERE name = $1`;

/** The app's schedules get a state row the first time a leader sees them. */
export const ADD_APP_SCHEDULES = `
  INSERT INTO schedules (name, source) SELECT unnest($1::text[]), 'app'
  ON CONFLICT (name) DO NOTHING`;

export const INSERT_STORED_SCHEDULE = `
  INSERT INTO schedules (name, source, definition, paused) VALUES ($1, 'api', $2, $3)
  ON CONFLICT (name) DO NOTHING RETURNING name`;

/** A changed definition counts its runs from now: the old spec's times mean nothing for the new one. */
export const UPDATE_STORED_SCHEDULE = `
  UPDATE schedules SET definition = $2, last_run_at = NULL, created_at = now(), updated_at = now()
   WHERE name = $1 AND source = 'api' RETURNING name`;

export const DELETE_STORED_SCHEDULE = `DELETE FROM schedules WHERE name = $1 AND source = 'api' RETURNING name`;

export const DELETE_FIRES_OF = `DELETE FROM schedule_fires WHERE schedule = $1`;

/** Pause or resume; a resumed schedule counts its runs from now (no catch-up for the paused time). */
export const SET_PAUSED = `
  INSERT INTO schedules (name, source, paused) VALUES ($1, $3, $2)
  ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused, updated_at = now(),
    last_run_at = CASE WHEN schedules.paused AND NOT EXCLUDED.paused THEN now() ELSE schedules.last_run_at END
  RETURNING name`;

/**
 * Records a regular run, only while `holder` leads under `token` (FOR SHARE waits for a
 * takeover in progress and then sees it); the primary key refuses a run recorded before.
 */
export const RECORD_FIRE = `
  WITH lease AS (
    SELECT 1 FROM beat_lease WHERE id = 1 AND holder = $1 AND fencing_token = $2 AND expires_at > clock_timestamp() FOR SHARE
  )
  INSERT INTO schedule_fires (schedule, scheduled_at, kind, state, reason, task_id, fencing_token)
  SELECT $3, $4, 'scheduled', $5, $6, $7, $2 FROM lease
  ON CONFLICT (schedule, scheduled_at) DO NOTHING
  RETURNING schedule`;

/** Moves the schedule's last handled run forward (never back). */
export const ADVANCE_LAST_RUN = `
  UPDATE schedules SET last_run_at = GREATEST(COALESCE(last_run_at, $2), $2) WHERE name = $1`;

/** A run asked for by an operator (trigger now, backfill): published by the leader on its next tick. */
export const REQUEST_FIRES = `
  INSERT INTO schedule_fires (schedule, scheduled_at, kind, state, task_id)
  SELECT $1, t, $2, 'pending', gen_random_uuid()::text FROM unnest($3::timestamptz[]) AS t
  ON CONFLICT (schedule, scheduled_at) DO NOTHING
  RETURNING scheduled_at, task_id`;

/** Runs recorded but not yet confirmed by the broker, and runs held by overlap 'queue-one'. */
export const SELECT_OPEN_FIRES = `
  SELECT schedule, scheduled_at, kind, state, task_id, fencing_token FROM schedule_fires
   WHERE state IN ('pending', 'queued') ORDER BY recorded_at, scheduled_at LIMIT $1`;

export const MARK_PUBLISHED = `
  UPDATE schedule_fires SET state = 'published', published_at = now()
   WHERE schedule = $1 AND scheduled_at = $2 AND state = 'pending'`;

/** A held run whose turn came: pending now, with a task id. */
export const RELEASE_QUEUED = `
  UPDATE schedule_fires SET state = 'pending', task_id = $3
   WHERE schedule = $1 AND scheduled_at = $2 AND state = 'queued' RETURNING task_id`;

export const MARK_SKIPPED = `
  UPDATE schedule_fires SET state = 'skipped', reason = $3
   WHERE schedule = $1 AND scheduled_at = $2 AND state IN ('pending', 'queued')`;

/**
 * Whether each schedule has a run not finished: a run pending, or its latest published run's
 * task not final (a task with no row yet counts as running for a minute after its publish: its
 * PENDING row may still be on its way; after that it was forgotten by the retention sweep).
 */
export const SELECT_RUNNING = `
  SELECT s.name AS schedule,
         EXISTS (SELECT 1 FROM schedule_fires q WHERE q.schedule = s.name AND q.state = 'queued') AS queued,
         EXISTS (SELECT 1 FROM schedule_fires p WHERE p.schedule = s.name AND p.state = 'pending')
         OR COALESCE((
           SELECT (t.id IS NULL AND f.published_at > now() - interval '60 seconds') OR t.state NOT IN ('SUCCESS', 'FAILURE', 'REVOKED')
             FROM schedule_fires f LEFT JOIN tasks t ON t.id = f.task_id
            WHERE f.schedule = s.name AND f.state = 'published' ORDER BY f.published_at DESC LIMIT 1), false) AS running
    FROM unnest($1::text[]) AS s(name)`;

/** The latest run fired of each schedule, for the listing. */
export const SELECT_LAST_FIRES = `
  SELECT s.name AS schedule, f.scheduled_at, f.kind, f.state, f.task_id, f.published_at
    FROM unnest($1::text[]) AS s(name)
    CROSS JOIN LATERAL (
      SELECT scheduled_at, kind, state, task_id, published_at FROM schedule_fires
       WHERE schedule = s.name AND state IN ('published', 'pending') ORDER BY scheduled_at DESC LIMIT 1) f`;

export const SELECT_FIRES_OF = `
  SELECT schedule, scheduled_at, kind, state, reason, task_id, recorded_at, published_at
    FROM schedule_fires WHERE schedule = $1 ORDER BY scheduled_at DESC LIMIT $2`;

/** Forgets settled runs older than the retention (the latest regular run stays in schedules.last_run_at). */
export const DELETE_OLD_FIRES = `
  DELETE FROM schedule_fires WHERE state IN ('published', 'skipped') AND recorded_at < now() - make_interval(hours => $1)`;
