/**
 * The scheduler's leader lease: one row in PostgreSQL (beat_lease). A process takes it when it
 * has lapsed, which gives it a new fencing token; it renews it on every tick; every run it
 * records names holder and token, and is refused once another process took over (sql.ts
 * RECORD_FIRE). Clocks do not matter: expiry is the database's clock.
 */
import type pg from 'pg';
import { ACQUIRE_LEASE, RELEASE_LEASE, RENEW_LEASE, SELECT_LEASE } from './sql.js';

/** The lease as held by this process. */
export interface HeldLease {
  holder: string;
  /** The fencing token (a bigint, kept as text). */
  token: string;
}

export class LeaderLease {
  #held: HeldLease | undefined;

  constructor(
    private readonly pool: pg.Pool,
    /** This process's name, e.g. `beat@host:pid`. */
    readonly holder: string,
    /** How long a lease lasts without renewal, in ms. */
    readonly leaseMs: number,
  ) {}

  get held(): HeldLease | undefined {
    return this.#held;
  }

  /**
   * Takes or renews the lease: the lease held afterwards, or undefined when another process
   * holds it (or this one lost it).
   */
  async refresh(): Promise<HeldLease | undefined> {
    if (this.#held) {
      const { rowCount } = await this.pool.query(RENEW_LEASE, [this.holder, this.#held.token, this.leaseMs]);
      if (rowCount === 1) return this.#held;
      this.#held = undefined;
    }
    const { rows } = await this.pool.query<{ fencing_token: string }>(ACQUIRE_LEASE, [this.holder, this.leaseMs]);
    const row = rows[0];
    this.#held = row ? { holder: this.holder, token: row.fencing_token } : undefined;
    return this.#held;
  }

  /** Forgets the lease without telling the database (it lapses by itself). */
  drop(): void {
    this.#held = undefined;
  }

  /** Gives the lease up, so another process takes over on its next tick. */
  async release(): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    if (held) await this.pool.query(RELEASE_LEASE, [held.holder, held.token]);
  }
}

/** Who leads now, for the listing and status: undefined when nobody holds a live lease. */
export async function currentLeader(pool: pg.Pool): Promise<{ holder: string; token: string; since: Date; expiresAt: Date } | undefined> {
  const { rows } = await pool.query<{ holder: string | null; fencing_token: string; expires_at: Date; acquired_at: Date | null }>(SELECT_LEASE);
  const row = rows[0];
  if (!row?.holder || row.acquired_at === null) return undefined;
  return { holder: row.holder, token: row.fencing_token, since: row.acquired_at, expiresAt: row.expires_at };
}
