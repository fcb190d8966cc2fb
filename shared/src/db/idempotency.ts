/**
 * Idempotency keys (`Idempotency-Key` on submit): the first submit with a key claims it for
 * a window; a later submit with the same key and the same content gets the first task back
 * instead of a new one. The claim is made before the publish, so two concurrent submits with
 * one key cannot both publish: the loser reads the winner's task id.
 *
 * A publish that fails without a confirm (the broker went away) leaves the key
 * "unconfirmed": the broker may or may not hold the message. The caller got a 503 and
 * retries with the key; that retry publishes the *same* task id again, marked as a
 * re-publish, and a worker that finds the task already finished acks the copy without
 * running it. So a client retrying with its key gets one execution even across a broker
 * restart.
 */
import type pg from 'pg';
import { databaseUnavailable } from './store.js';
import {
  CLAIM_IDEMPOTENCY_KEY,
  DELETE_EXPIRED_IDEMPOTENCY_KEYS,
  MARK_IDEMPOTENCY_KEY_UNCONFIRMED,
  RESUME_UNCONFIRMED_IDEMPOTENCY_KEY,
  SELECT_IDEMPOTENCY_KEY,
} from './statements.js';

export type IdempotencyClaim =
  | { claimed: true }
  /**
   * The key is held by an earlier submit; `sameContent` is false when it submitted something
   * else; `unconfirmed` when that submit's publish failed (see resumeUnconfirmed).
   */
  | { claimed: false; taskId: string; sameContent: boolean; unconfirmed: boolean };

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

  /** The submit holding `key` could not get a confirm: the next retry publishes its task again. */
  async markUnconfirmed(key: string, taskId: string): Promise<void> {
    await this.pool.query(MARK_IDEMPOTENCY_KEY_UNCONFIRMED, [key, taskId]);
  }

  /** True for the one caller that takes over the publish of an unconfirmed key. */
  async resumeUnconfirmed(key: string): Promise<boolean> {
    try {
      const { rowCount } = await this.pool.query(RESUME_UNCONFIRMED_IDEMPOTENCY_KEY, [key]);
      return (rowCount ?? 0) > 0;
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
