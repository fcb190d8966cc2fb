/**
 * What operators see of flow control by key: the busiest keys, by waiting + running tasks,
 * read from migration 11's tables, and the totals over every key. One query serves the
 * gateway's metrics (top N as labelled gauges), its admin route and the dashboard, and
 * `celerity status`, so they all count alike.
 *
 * Counted:
 * - running: a `flow_slots` row that has not expired (`expires_at > now()`). An expired row is
 *   a slot its holder stopped renewing (a worker killed with -9): it no longer limits its key,
 *   so it is not shown as running either.
 * - waiting: a `flow_waiting` row not yet handed back to the broker (`dispatched_at IS NULL`).
 *   A dispatched row is on its way to a worker (the row goes once the publish is confirmed).
 */
import type pg from 'pg';
import { databaseUnavailable } from './batch-query.js';

/** Keys shown when the caller names no number (the metrics' bound too). */
export const DEFAULT_BUSIEST_KEYS = 10;
/** Most keys one read returns. */
export const MAX_BUSIEST_KEYS = 100;

/** One key of one task type with its counts. */
interface FlowKeyCount {
  task: string;
  key: string;
  waiting: number;
  running: number;
}

export interface FlowView {
  /** The busiest keys, most waiting + running first (then most waiting, task, key). */
  keys: FlowKeyCount[];
  /** Over every key, not only those shown. */
  totals: { waiting: number; running: number; keys: number };
}

/**
 * Window aggregates run before LIMIT, so the totals cover every key; with no key at all no row
 * comes back and the totals are zero.
 */
const SELECT_BUSIEST_FLOW_KEYS = `
  WITH running AS (
    SELECT task_name, flow_key, count(*) AS n FROM flow_slots WHERE expires_at > now() GROUP BY task_name, flow_key
  ), waiting AS (
    SELECT task_name, flow_key, count(*) AS n FROM flow_waiting WHERE dispatched_at IS NULL GROUP BY task_name, flow_key
  ), counted AS (
    SELECT task_name, flow_key, coalesce(w.n, 0) AS waiting, coalesce(r.n, 0) AS running
    FROM waiting w FULL JOIN running r USING (task_name, flow_key)
  )
  SELECT task_name, flow_key, waiting, running,
         sum(waiting) OVER () AS total_waiting, sum(running) OVER () AS total_running, count(*) OVER () AS total_keys
  FROM counted
  ORDER BY waiting + running DESC, waiting DESC, task_name, flow_key
  LIMIT $1`;

interface FlowKeyRow {
  task_name: string;
  flow_key: string;
  waiting: string;
  running: string;
  total_waiting: string;
  total_running: string;
  total_keys: string;
}

/** The `limit` busiest keys (1..MAX_BUSIEST_KEYS) and the totals. */
export async function busiestFlowKeys(pool: pg.Pool, limit: number = DEFAULT_BUSIEST_KEYS): Promise<FlowView> {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_BUSIEST_KEYS) throw new RangeError(`limit must be a whole number from 1 to ${MAX_BUSIEST_KEYS}, got ${limit}`);
  let rows: FlowKeyRow[];
  try {
    rows = (await pool.query<FlowKeyRow>(SELECT_BUSIEST_FLOW_KEYS, [limit])).rows;
  } catch (err) {
    throw databaseUnavailable(err);
  }
  const first = rows[0];
  return {
    keys: rows.map((row) => ({ task: row.task_name, key: row.flow_key, waiting: Number(row.waiting), running: Number(row.running) })),
    totals: first
      ? { waiting: Number(first.total_waiting), running: Number(first.total_running), keys: Number(first.total_keys) }
      : { waiting: 0, running: 0, keys: 0 },
  };
}
