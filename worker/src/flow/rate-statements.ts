/**
 * The SQL of keyed rate limits (table flow_rates, migration 11), one named statement each: the
 * rule of rate-gcra.ts, run by PostgreSQL against its own clock so that every worker spends one
 * budget per key. Times come back with the database's `now()`, so a worker whose clock is off
 * still waits the right length of time. The pool's search_path names the schema.
 */

/** `$3` ms as an interval (microsecond precision). */
const MS = `$3::double precision * interval '1 millisecond'`;

/**
 * Reserves a start for one task of task $1, key $2, costing $3 ms of the key's time:
 * `greatest(next_at, now(), paused_until)`, and moves next_at on by the cost. $4: the
 * reservation the message already holds (null: none); then nothing changes and no row comes
 * back, unless the key was paused past that reservation since (it reserves again).
 */
export const RESERVE_RATE = `
  INSERT INTO flow_rates AS r (task_name, flow_key, next_at, updated_at)
  VALUES ($1, $2, now() + ${MS}, now())
  ON CONFLICT (task_name, flow_key) DO UPDATE SET
    next_at = GREATEST(r.next_at, now(), r.paused_until) + ${MS},
    updated_at = now()
  WHERE $4::timestamptz IS NULL OR r.paused_until > $4::timestamptz
  RETURNING r.next_at - ${MS} AS reserved_at, now() AS now`;

/**
 * Pauses task $1's key $2 for $3 ms (a longer pause already set is kept; next_at moves past
 * it), and gives back the run of task $4 held by lease holder $5: its STARTED row loses the
 * lease and the start it counted, so the run after the pause is not counted as another attempt
 * or delivery. Returns when the pause ends, with the database's now.
 */
export const PAUSE_RATE = `
  WITH paused AS (
    INSERT INTO flow_rates AS r (task_name, flow_key, next_at, paused_until, updated_at)
    VALUES ($1, $2, now() + ${MS}, now() + ${MS}, now())
    ON CONFLICT (task_name, flow_key) DO UPDATE SET
      paused_until = GREATEST(r.paused_until, EXCLUDED.paused_until),
      next_at = GREATEST(r.next_at, r.paused_until, EXCLUDED.paused_until),
      updated_at = now()
    RETURNING r.paused_until, now() AS now
  ), given_back AS (
    UPDATE tasks SET attempts = GREATEST(attempts - 1, 0), deliveries = GREATEST(deliveries - 1, 0),
                     lease_expires_at = now(), lease_holder = NULL, updated_at = now()
    WHERE id = $4::text AND lease_holder = $5::text AND state = 'STARTED'
  )
  SELECT paused_until, now FROM paused`;

/**
 * Deletes up to $2 rows of keys idle since $1: their next unit of budget and any pause lie
 * before it, so a missing row reserves exactly as the row would (at now). Returns how many.
 */
export const DELETE_IDLE_RATES = `
  DELETE FROM flow_rates WHERE ctid IN (
    SELECT ctid FROM flow_rates WHERE next_at < $1 AND (paused_until IS NULL OR paused_until < $1) LIMIT $2)`;

/** The pauses in force of the task types among $1 (text[]) as a whole (key ''), for tasks that have no rateLimit. */
export const SELECT_TYPE_PAUSES = `
  SELECT task_name, paused_until, now() AS now FROM flow_rates
  WHERE task_name = ANY($1::text[]) AND flow_key = '' AND paused_until > now()`;
