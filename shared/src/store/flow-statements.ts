/**
 * The statements of per-key concurrency (migration 11: flow_slots, flow_waiting), by name.
 * Every statement that reads or changes one key's slots runs inside that key's transaction,
 * after LOCK_FLOW_KEY, so two workers never both see room for one last slot. The decisions
 * (take a slot, park, supersede, whom to dispatch) are the worker's (worker/src/flow/).
 */

/** How long a dispatched waiting task keeps its turn before the sweep may publish it again, in seconds. */
const REDISPATCH_AFTER_S = 30;

/**
 * Serialises the transactions of key ($1 task name, $2 flow key) until commit. Two 32-bit
 * hashes: a collision only serialises two keys more than needed. (The two-key form of advisory
 * locks does not share its key space with the one-key form the migrations take.)
 */
export const LOCK_FLOW_KEY = `SELECT pg_advisory_xact_lock(hashtext($1::text), hashtext($2::text))`;

/** Deletes the key's expired slots and returns the live ones, oldest first (their holder's turn order). */
export const LIVE_SLOTS = `
  WITH expired AS (DELETE FROM flow_slots WHERE task_name = $1 AND flow_key = $2 AND expires_at <= now())
  SELECT task_id, holder, acquired_at FROM flow_slots
  WHERE task_name = $1 AND flow_key = $2 AND expires_at > now()
  ORDER BY acquired_at, task_id
`;

/**
 * Gives task $3 a slot of key ($1, $2) held by $4 for $5 ms: a new row, or its own row taken
 * over (a redelivered copy; one dispatched from waiting). Its waiting row, if any, goes: it runs now.
 */
export const TAKE_SLOT = `
  WITH waited AS (DELETE FROM flow_waiting WHERE task_id = $3)
  INSERT INTO flow_slots AS s (task_name, flow_key, task_id, holder, expires_at)
  VALUES ($1, $2, $3, $4, now() + $5::int * interval '1 millisecond')
  ON CONFLICT (task_name, flow_key, task_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
`;

/**
 * Parks task $3 of key ($1, $2): its message ($4 queue, $5 content, $6 properties) waits here
 * for a slot. Parked again (a dispatched task that found its slot gone), it keeps its seq: its turn.
 */
export const PARK_TASK = `
  INSERT INTO flow_waiting AS w (task_name, flow_key, task_id, queue, content, properties)
  VALUES ($1, $2, $3, $4, $5, $6::jsonb)
  ON CONFLICT (task_id) DO UPDATE SET dispatched_at = NULL, queue = EXCLUDED.queue, content = EXCLUDED.content, properties = EXCLUDED.properties
`;

/** Deletes task $3's slot of key ($1, $2): its run is over. */
export const RELEASE_SLOT = `DELETE FROM flow_slots WHERE task_name = $1 AND flow_key = $2 AND task_id = $3`;

/**
 * The key's oldest waiting tasks that may be published now (never dispatched, or dispatched so
 * long ago that the publish cannot have completed), at most $3, locked for this transaction.
 */
export const DISPATCHABLE = `
  SELECT seq, task_id, queue, content, properties FROM flow_waiting
  WHERE task_name = $1 AND flow_key = $2
    AND (dispatched_at IS NULL OR dispatched_at < now() - interval '${REDISPATCH_AFTER_S} seconds')
  ORDER BY seq LIMIT $3
  FOR UPDATE
`;

/**
 * Hands waiting tasks $3 (task ids) of key ($1, $2) their slots, held by $4 for $5 ms, and marks
 * waiting rows $6 (seqs) dispatched. The stamp is whole milliseconds so that the dispatcher's
 * DELETE_DISPATCHED can name it exactly from JavaScript.
 */
export const GIVE_SLOTS = `
  INSERT INTO flow_slots AS s (task_name, flow_key, task_id, holder, expires_at)
  SELECT $1, $2, id, $4, now() + $5::int * interval '1 millisecond' FROM unnest($3::text[]) AS id
  ON CONFLICT (task_name, flow_key, task_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
`;
export const MARK_DISPATCHED = `
  UPDATE flow_waiting SET dispatched_at = date_trunc('milliseconds', now())
  WHERE seq = ANY($1::bigint[])
  RETURNING dispatched_at
`;

/** Deletes waiting row $1 after its publish was confirmed, unless it was parked or dispatched again since ($2: the stamp). */
export const DELETE_DISPATCHED = `DELETE FROM flow_waiting WHERE seq = $1 AND dispatched_at = $2`;

/** Deletes every waiting task of key ($1, $2) (a newer one supersedes them), returning them. */
export const DROP_WAITING = `DELETE FROM flow_waiting WHERE task_name = $1 AND flow_key = $2 RETURNING task_id, queue`;

/** Moves the expiry of slots ($1 names, $2 keys, $3 task ids) held here ($4) to $5 ms from now; returns those renewed. */
export const RENEW_SLOTS = `
  UPDATE flow_slots s SET expires_at = now() + $5::int * interval '1 millisecond', holder = $4
  FROM unnest($1::text[], $2::text[], $3::text[]) AS h(task_name, flow_key, task_id)
  WHERE s.task_name = h.task_name AND s.flow_key = h.flow_key AND s.task_id = h.task_id
  RETURNING s.task_id
`;

/** Deletes the expired slots of tasks $1 (names), returning the keys that got room (the sweep). */
export const SWEEP_EXPIRED = `
  WITH expired AS (DELETE FROM flow_slots WHERE expires_at <= now() AND task_name = ANY($1::text[]) RETURNING task_name, flow_key)
  SELECT DISTINCT task_name, flow_key FROM expired
`;

/**
 * Keys of tasks $1 (names) with tasks that may be dispatched now, and each key's live slots
 * (the sweep compares them with the key's limit), at most $2 keys.
 */
export const KEYS_WAITING = `
  SELECT k.task_name, k.flow_key,
         (SELECT count(*) FROM flow_slots s WHERE s.task_name = k.task_name AND s.flow_key = k.flow_key AND s.expires_at > now())::int AS live
  FROM (SELECT DISTINCT task_name, flow_key FROM flow_waiting
        WHERE task_name = ANY($1::text[])
          AND (dispatched_at IS NULL OR dispatched_at < now() - interval '${REDISPATCH_AFTER_S} seconds')) k
  LIMIT $2
`;
