/**
 * Idempotency keys (`Idempotency-Key` on submit): the first submit with a key claims it for
 * a window; a later submit with the same key and the same content gets the first task back
 * instead of a new one. The claim is made before the publish, so two concurrent submits with
 * one key cannot both create a task: the loser reads the winner's task id.
 *
 * A key is claimed *unconfirmed* and marked confirmed only after the broker confirmed a
 * publish of its task. A later submit with the key that finds it still unconfirmed (the first
 * publish failed, is still in flight, or its process died between claim and publish) does not
 * answer from the claim: it publishes the same task id again, marked as a re-publish, and a
 * worker that already has the task acks the copy without running it. So every answer given
 * for a key is backed by a confirmed publish, and a client retrying with its key gets one
 * execution even across a broker restart or a gateway crash.
 *
 * Dedupe keys (`options.dedupe`, submit/dedupe.ts) are rows of the same table: `claimDedupe`
 * reads the holder under its row lock and lets the caller's rule decide, in one transaction.
 */
import type pg from 'pg';
import { databaseUnavailable } from './store.js';
import {
  CLAIM_IDEMPOTENCY_KEY,
  CONFIRM_IDEMPOTENCY_KEY,
  DELETE_EXPIRED_IDEMPOTENCY_KEYS,
  INSERT_DEDUPE_KEY,
  RELEASE_DEDUPE_KEY,
  SELECT_DEDUPE_KEY,
  SELECT_IDEMPOTENCY_KEY,
  TAKE_DEDUPE_KEY,
} from './statements.js';

export type IdempotencyClaim =
  | { claimed: true }
  /**
   * The key is held by an earlier submit; `sameContent` is false when it submitted something
   * else; `unconfirmed` while no publish of its task has been confirmed.
   */
  | { claimed: false; taskId: string; sameContent: boolean; unconfirmed: boolean };

/** The task that holds a dedupe key, as a dedupe rule reads it. Times in ms since the epoch. */
export interface HeldDedupe {
  taskId: string;
  /** When the key was claimed for it (the database's clock). */
  claimedAt: number;
  /** No publish of it was confirmed yet. */
  unconfirmed: boolean;
  /** Its row in the store is in a final state. */
  final: boolean;
  /** When it may run (its eta); absent when it may run at once. */
  runAt?: number;
}

/** A submit that may take a dedupe key. */
export interface DedupeClaim {
  taskId: string;
  fingerprint: string;
  mode: string;
  /** The task's eta, if it is delayed. */
  runAt?: Date;
}

export class IdempotencyKeys {
  constructor(
    private readonly pool: pg.Pool,
    /** How long a key stays claimed, in ms. */
    private readonly windowMs: number,
  ) {}

  async claim(key: string, taskId: string, fingerprint: string): Promise<IdempotencyClaim> {
    try {
      // Two rounds at most: the key may expire between our claim and our read.
      for (let round = 0; round < 2; round++) {
        const windowStart = new Date(Date.now() - this.windowMs);
        const claimed = await this.pool.query({ name: 'celerity_claim_idempotency_key', text: CLAIM_IDEMPOTENCY_KEY, values: [key, taskId, fingerprint, windowStart] });
        if ((claimed.rowCount ?? 0) > 0) return { claimed: true };
        const held = await this.pool.query<{ task_id: string; fingerprint: string; unconfirmed: boolean }>(SELECT_IDEMPOTENCY_KEY, [key]);
        const row = held.rows[0];
        if (row) return { claimed: false, taskId: row.task_id, sameContent: row.fingerprint === fingerprint, unconfirmed: row.unconfirmed };
      }
      throw new Error(`Idempotency key "${key}" kept changing hands`);
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /** A publish of the task holding `key` was confirmed by the broker. */
  async confirm(key: string, taskId: string): Promise<void> {
    try {
      await this.pool.query(CONFIRM_IDEMPOTENCY_KEY, [key, taskId]);
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /**
   * In one transaction: claims dedupe key `key` for `claim` when nobody holds it; otherwise
   * locks the holder's row, `decide`s (given the holder and the database's clock, in ms), and
   * gives the key to the claim when `takes` says the decision does. Concurrent calls with one
   * key run one after the other on the row lock. Resolves with the decision, or undefined when
   * the key was free (and is the claim's now).
   */
  async claimDedupe<D>(key: string, claim: DedupeClaim, decide: (held: HeldDedupe, now: number) => D, takes: (decision: D) => boolean): Promise<D | undefined> {
    const values = [key, claim.taskId, claim.fingerprint, claim.mode, claim.runAt ?? null];
    let client: pg.PoolClient | undefined;
    try {
      client = await this.pool.connect();
      // Two rounds at most: the retention sweep may delete the row between insert and select.
      for (let round = 0; round < 2; round++) {
        await client.query('BEGIN');
        const inserted = await client.query(INSERT_DEDUPE_KEY, values);
        if ((inserted.rowCount ?? 0) > 0) {
          await client.query('COMMIT');
          return undefined;
        }
        const { rows } = await client.query<{ task_id: string; unconfirmed: boolean; created_at: Date; run_at: Date | null; final: boolean; now: Date }>(SELECT_DEDUPE_KEY, [key]);
        const row = rows[0];
        if (!row) {
          await client.query('ROLLBACK');
          continue;
        }
        const held: HeldDedupe = {
          taskId: row.task_id,
          claimedAt: row.created_at.getTime(),
          unconfirmed: row.unconfirmed,
          final: row.final,
          ...(row.run_at ? { runAt: row.run_at.getTime() } : {}),
        };
        const decision = decide(held, row.now.getTime());
        if (takes(decision)) await client.query(TAKE_DEDUPE_KEY, values);
        await client.query('COMMIT');
        return decision;
      }
      throw new Error(`Dedupe key "${key}" kept changing hands`);
    } catch (err) {
      await client?.query('ROLLBACK').catch(() => undefined);
      throw databaseUnavailable(err);
    } finally {
      client?.release();
    }
  }

  /** Frees dedupe key `key` if `taskId` still holds it unconfirmed (its publish failed). */
  async releaseDedupe(key: string, taskId: string): Promise<void> {
    try {
      await this.pool.query(RELEASE_DEDUPE_KEY, [key, taskId]);
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /** Deletes keys claimed before `cutoff`, `batch` rows per statement. */
  async deleteExpired(cutoff: Date, batch = 1000): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.pool.query(DELETE_EXPIRED_IDEMPOTENCY_KEYS, [cutoff, batch]);
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < batch) return total;
    }
  }
}
