/**
 * Claims: a worker's start of a task, written as one atomic step with its lease, so that of two
 * copies of one message (a redelivery, a re-publish, a forged id) at most one runs at a time and
 * none runs after a final state. Claims are group-committed like state writes (one statement
 * for the claims of many tasks), and each claim learns whether it landed; one that did not gets
 * the stored row, which says why (task-claim refusals are decided in the worker's admit step).
 */
import type pg from 'pg';
import type { Logger, TaskRecord, TaskWrite } from '../core/index.js';
import { BatchWriter } from './batch-writer.js';
import { byId, databaseUnavailable, runBatch } from './batch-query.js';
import { CLAIM_TASKS, SELECT_TASKS } from './statements.js';
import { SELECT_REVOKED_AMONG } from './revoke-statements.js';
import { toJsonRow, toRecord, type TaskRow } from './task-rows.js';
import { unstorableWrite } from './task-writes.js';

/** A start of a task by one delivery: what STARTED records, the holder and how long the lease lasts. */
export interface TaskClaim {
  write: Omit<TaskWrite, 'state' | 'attempts' | 'deliveries' | 'leaseExpiresAt'> & { leaseHolder: string };
  /** The lease from now (the database's clock), in ms. */
  leaseMs: number;
}

/**
 * What a claim found: it holds the run with these counts, or the row that refused it
 * (undefined: none) and whether the task is revoked (a revocation refuses it, row or not).
 */
export type ClaimResult = { claimed: true; attempts: number; deliveries: number } | { claimed: false; found: TaskRecord | undefined; revoked: boolean };

export interface TaskClaimsOptions {
  logger: Logger;
  /** Claims per statement at most. @default 500 */
  maxBatch?: number;
  /** Statements in flight at once. @default 2 */
  maxInFlight?: number;
}

export class TaskClaims {
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  // No merge: two claims of one task (two copies here at once) go in separate statements, and
  // the second sees the first's lease.
  readonly #writer: BatchWriter<TaskClaim, ClaimResult>;

  constructor(pool: pg.Pool, options: TaskClaimsOptions) {
    this.#pool = pool;
    this.#logger = options.logger;
    this.#writer = new BatchWriter<TaskClaim, ClaimResult>({
      key: (c) => c.write.id,
      flush: (claims) => this.#flush(claims),
      maxBatch: options.maxBatch ?? 500,
      maxInFlight: options.maxInFlight ?? 2,
    });
  }

  /**
   * Claims the run; resolves once committed. Rejects like TaskStore.record: UNSTORABLE_VALUE or
   * STORE_WRITE_REFUSED when the start cannot be stored, DATABASE_UNAVAILABLE when it is away.
   */
  claim(claim: TaskClaim): Promise<ClaimResult> {
    const refused = unstorableWrite({ ...claim.write, state: 'STARTED' });
    if (refused) return Promise.reject(refused);
    return this.#writer.write(claim);
  }

  async #flush(claims: TaskClaim[]): Promise<ClaimResult[]> {
    const rows = byId(claims.map((c) => ({ id: c.write.id, ...toJsonRow({ ...c.write, state: 'STARTED' }), lease_ms: Math.round(c.leaseMs) })));
    const statement = { name: 'celerity_claim_tasks', text: CLAIM_TASKS, what: 'task claim(s)' };
    const claimed = await runBatch<{ id: string; attempts: number; deliveries: number }>(this.#pool, statement, rows, this.#logger);
    const counts = new Map(claimed.map((r) => [r.id, r]));
    const refused = claims.filter((c) => !counts.has(c.write.id)).map((c) => c.write.id);
    // Read after the claim, in a statement of its own: the claim's snapshot may predate the
    // commit that refused it. Refusals are rare (duplicates), so the common case costs nothing.
    const { found, revoked } = refused.length === 0 ? { found: new Map<string, TaskRecord>(), revoked: new Set<string>() } : await this.#read(refused);
    return claims.map((c): ClaimResult => {
      const row = counts.get(c.write.id);
      return row ? { claimed: true, attempts: row.attempts, deliveries: row.deliveries } : { claimed: false, found: found.get(c.write.id), revoked: revoked.has(c.write.id) };
    });
  }

  async #read(ids: string[]): Promise<{ found: Map<string, TaskRecord>; revoked: Set<string> }> {
    try {
      const { rows } = await this.#pool.query<TaskRow>({ name: 'celerity_select_tasks', text: SELECT_TASKS, values: [ids] });
      const revoked = await this.#pool.query<{ task_id: string }>({ name: 'celerity_select_revoked_among', text: SELECT_REVOKED_AMONG, values: [ids] });
      return { found: new Map(rows.map((r) => [r.id, toRecord(r)])), revoked: new Set(revoked.rows.map((r) => r.task_id)) };
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  async idle(): Promise<void> {
    await this.#writer.idle();
  }
}
