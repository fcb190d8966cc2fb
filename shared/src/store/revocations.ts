/**
 * Revokes, durable in PostgreSQL (migration 7): whoever revokes (the gateway, the Node client,
 * `celerity control revoke`, a worker) records here, in one transaction, the revocation of each
 * id and the REVOKED end of each task that has not started. A worker's claim refuses a revoked
 * id (CLAIM_TASKS), so the task never runs on any worker, including one started or reconnected
 * after the revoke. Broadcasting the revoke to running workers is the caller's (broker/).
 */
import type pg from 'pg';
import type { TaskRecord } from '../core/index.js';
import { databaseUnavailable } from './batch-query.js';
import { SELECT_TASKS } from './statements.js';
import { toRecord, type TaskRow } from './task-rows.js';
import {
  DELETE_EXPIRED_REVOCATIONS,
  INSERT_REVOKED_TASKS,
  RECORD_REVOCATIONS,
  REVOKE_WAITING_TASKS,
  SELECT_RECENT_REVOCATIONS,
} from './revoke-statements.js';

export interface RevokeRecord {
  /** Also stop the task if it is running now. @default false */
  terminate?: boolean;
  /** Why, stored with the revocation and as the REVOKED task's error message. @default 'revoked' */
  reason?: string;
  /** Who revoked: an API key's id, `cli`, a worker's name. @default none */
  by?: string;
}

/** A task the caller knows by name (its row may not be written yet): a REVOKED row is made for it when none exists. */
export interface KnownTask {
  id: string;
  name: string;
  queue: string;
  owner?: string | null;
}

/** One revocation as stored. */
export interface Revocation {
  id: string;
  terminate: boolean;
  revokedAt: Date;
}

/** What a revoke did to each id: its revocation, and the task's row afterwards (undefined: no row). */
export interface RevokeResult extends Revocation {
  /** False when the id was revoked already (a repeat changes nothing but may add `terminate`). */
  created: boolean;
  task: TaskRecord | undefined;
}

/** Longest reason stored; a longer one is cut. */
const MAX_REASON_CHARS = 500;

export class RevocationStore {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Records the revocation of `ids` (idempotent) and ends as REVOKED every one that has not
   * started, in one transaction. `known`: tasks the caller knows whose rows may not exist yet.
   */
  async revoke(ids: readonly string[], options: RevokeRecord = {}, known: readonly KnownTask[] = []): Promise<RevokeResult[]> {
    const unique = [...new Set(ids)].sort();
    if (unique.length === 0) return [];
    const reason = (options.reason ?? 'revoked').slice(0, MAX_REASON_CHARS);
    let client: pg.PoolClient | undefined;
    try {
      client = await this.pool.connect();
      await client.query('BEGIN');
      const recorded = await client.query<{ task_id: string; terminate: boolean; revoked_at: Date; created: boolean }>(RECORD_REVOCATIONS, [
        unique,
        options.terminate ?? false,
        reason,
        options.by ?? null,
      ]);
      await client.query(REVOKE_WAITING_TASKS, [unique, reason]);
      const missing = known.filter((k) => unique.includes(k.id)).map((k) => ({ id: k.id, name: k.name, queue: k.queue, owner: k.owner ?? null }));
      if (missing.length > 0) await client.query(INSERT_REVOKED_TASKS, [JSON.stringify(missing), reason]);
      const { rows } = await client.query<TaskRow>(SELECT_TASKS, [unique]);
      await client.query('COMMIT');
      const tasks = new Map(rows.map((r) => [r.id, toRecord(r)]));
      return recorded.rows
        .map((r) => ({ id: r.task_id, terminate: r.terminate, revokedAt: r.revoked_at, created: r.created, task: tasks.get(r.task_id) }))
        .sort((a, b) => unique.indexOf(a.id) - unique.indexOf(b.id));
    } catch (err) {
      await client?.query('ROLLBACK').catch(() => undefined);
      throw databaseUnavailable(err);
    } finally {
      client?.release();
    }
  }

  /** Deletes the revocations made before `cutoff` whose task is final (the retention sweep); returns how many. */
  async deleteExpired(cutoff: Date, batch = 1_000): Promise<number> {
    let total = 0;
    try {
      for (;;) {
        const { rowCount } = await this.pool.query(DELETE_EXPIRED_REVOCATIONS, [cutoff, batch]);
        total += rowCount ?? 0;
        if ((rowCount ?? 0) < batch) return total;
      }
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /** Revocations since `since`, newest first, at most `limit` (a worker loads them at start and after a reconnect). */
  async recent(since: Date, limit: number): Promise<Revocation[]> {
    try {
      const { rows } = await this.pool.query<{ task_id: string; terminate: boolean; revoked_at: Date }>({
        name: 'celerity_select_recent_revocations',
        text: SELECT_RECENT_REVOCATIONS,
        values: [since, limit],
      });
      return rows.map((r) => ({ id: r.task_id, terminate: r.terminate, revokedAt: r.revoked_at }));
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }
}
