/**
 * Idempotency keys (`Idempotency-Key` on submit): the first submit with a key claims it for
 * a window; a later submit with the same key and the same content gets the first task back
 * instead of a new one. The claim is made before the publish, so two concurrent submits with
 * one key cannot both publish: the loser reads the winner's task id.
 */
import type pg from 'pg';
import { databaseUnavailable } from './store.js';
import { CLAIM_IDEMPOTENCY_KEY, DELETE_EXPIRED_IDEMPOTENCY_KEYS, RELEASE_IDEMPOTENCY_KEY, SELECT_IDEMPOTENCY_KEY } from './statements.js';

export type IdempotencyClaim =
  | { claimed: true }
  /** The key is held by an earlier submit; `sameContent` is false when it submitted something else. */
  | { claimed: false; taskId: string; sameContent: boolean };

export class IdempotencyKeys {
  constructor(
    private readonly pool: pg.Pool,
    /** How long a key stays claimed, in ms. */
    private readonly windowMs: number,
  ) {}

  async claim(key: string, taskId: string, fingerprint: string): Promise<IdempotencyClaim> {
    try {
      // Two rounds at most: the holder may release the key (its publish failed) between our
      // claim and our read, and then the key is free again.
      for (let round = 0; round < 2; round++) {
        const windowStart = new Date(Date.now() - this.windowMs);
        const claimed = await this.pool.query({ name: 'celerity_claim_idempotency_key', text: CLAIM_IDEMPOTENCY_KEY, values: [key, taskId, fingerprint, windowStart] });
        if ((claimed.rowCount ?? 0) > 0) return { claimed: true };
        const held = await this.pool.query<{ task_id: string; fingerprint: string }>(SELECT_IDEMPOTENCY_KEY, [key]);
        const row = held.rows[0];
        if (row) return { claimed: false, taskId: row.task_id, sameContent: row.fingerprint === fingerprint };
      }
      throw new Error(`Idempotency key "${key}" kept changing hands`);
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  /** Frees a key claimed by a submit that then failed: a retry with the key may publish. */
  async release(key: string, taskId: string): Promise<void> {
    await this.pool.query(RELEASE_IDEMPOTENCY_KEY, [key, taskId]);
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
