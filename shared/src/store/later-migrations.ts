/**
 * The migrations after the flow-control tables (migration 11); migrations.ts applies them after
 * its own. Never edit one that has shipped: add the next number.
 */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export const LATER_MIGRATIONS: readonly Migration[] = [
  {
    id: 13,
    name: 'dedupe keys',
    // options.dedupe's keys are idempotency_keys rows ("dedupe <task> <owner> <key>", submit/dedupe.ts). dedupe_mode: the mode that claimed it (NULL: an Idempotency-Key); run_at: a debounced task's eta.
    sql: 'ALTER TABLE idempotency_keys ADD COLUMN dedupe_mode text, ADD COLUMN run_at timestamptz;',
  },
  {
    id: 14,
    name: 'flow slots in one statement',
    sql: `
      -- The common cases of per-key concurrency in one round trip each (worker/src/flow/): a task
      -- takes a slot of a key with room, and a task that ends gives its slot back. Each holds the
      -- key's lock (the same as LOCK_FLOW_KEY's) for its statement's transaction, so two workers
      -- never both see room for one last slot; each statement after the lock reads what committed
      -- before it (READ COMMITTED takes a snapshot per statement).

      -- Takes a slot of key (task, key) for task tid, held by holder for lease_ms, when the key
      -- has fewer than lim live slots or tid holds one already (a redelivered or dispatched copy);
      -- false when the key is full: the caller then decides (park, cancel) in a transaction.
      CREATE FUNCTION celerity_flow_take(task text, key text, tid text, holder text, lim integer, lease_ms integer)
        RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_advisory_xact_lock(hashtext(task), hashtext(key));
          DELETE FROM flow_slots WHERE task_name = task AND flow_key = key AND expires_at <= now();
          IF NOT EXISTS (SELECT 1 FROM flow_slots WHERE task_name = task AND flow_key = key AND task_id = tid)
             AND (SELECT count(*) FROM flow_slots WHERE task_name = task AND flow_key = key) >= lim THEN
            RETURN false;
          END IF;
          DELETE FROM flow_waiting WHERE task_id = tid;
          INSERT INTO flow_slots AS s (task_name, flow_key, task_id, holder, expires_at)
            VALUES (task, key, tid, holder, now() + lease_ms * interval '1 millisecond')
            ON CONFLICT (task_name, flow_key, task_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at;
          RETURN true;
        END
      $$;

      -- Gives task tid's slot of key (task, key) back; true when a task of the key waits (never
      -- dispatched, or dispatched redispatch_s ago or more): the caller then hands the room on.
      CREATE FUNCTION celerity_flow_release(task text, key text, tid text, redispatch_s integer)
        RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_advisory_xact_lock(hashtext(task), hashtext(key));
          DELETE FROM flow_slots WHERE task_name = task AND flow_key = key AND task_id = tid;
          RETURN EXISTS (
            SELECT 1 FROM flow_waiting
            WHERE task_name = task AND flow_key = key
              AND (dispatched_at IS NULL OR dispatched_at < now() - redispatch_s * interval '1 second'));
        END
      $$;
    `,
  },
];
