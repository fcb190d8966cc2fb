/**
 * A worker's memory of revoked task ids: bounded in entries and expiring, as Celery's worker
 * keeps its revokes (`REVOKES_MAX` 50 000, `REVOKE_EXPIRES` 3 h; ours are the same defaults).
 * It is a view, never the authority: the store's revocations table is (a claim refuses a
 * revoked id whatever this set says). The set serves what the store cannot do at once: a
 * revoke that lands between a claim's read and the task's start, and `terminate` of a running
 * task. One eviction rule: expired entries go first, then the oldest revoke.
 */

export interface RevokedSetOptions {
  /** Most ids held. @default 50000 */
  maxEntries?: number;
  /** How long an id is held after its (last) revoke, in ms. @default 10800000 (3 h) */
  ttlMs?: number;
}

export const DEFAULT_REVOKED_MAX_ENTRIES = 50_000;
export const DEFAULT_REVOKED_TTL_MS = 3 * 3_600_000;

export class RevokedSet {
  readonly maxEntries: number;
  readonly ttlMs: number;
  /** id → expiry (ms since the epoch); Map order is insertion order, so the oldest revoke comes first. */
  readonly #entries = new Map<string, number>();

  constructor(options: RevokedSetOptions = {}) {
    this.maxEntries = options.maxEntries ?? DEFAULT_REVOKED_MAX_ENTRIES;
    this.ttlMs = options.ttlMs ?? DEFAULT_REVOKED_TTL_MS;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    if (!(this.ttlMs > 0)) throw new RangeError('ttlMs must be a positive number of ms');
  }

  /** Holds `id` until `now + ttlMs` (a repeat moves it to the newest end). */
  add(id: string, now: number = Date.now()): void {
    this.#entries.delete(id);
    this.#entries.set(id, now + this.ttlMs);
    this.#evict(now);
  }

  has(id: string, now: number = Date.now()): boolean {
    const expiresAt = this.#entries.get(id);
    if (expiresAt === undefined) return false;
    if (expiresAt > now) return true;
    this.#entries.delete(id);
    return false;
  }

  /** Ids held now (expired ones may still count until the next `add` or `has` drops them). */
  get size(): number {
    return this.#entries.size;
  }

  #evict(now: number): void {
    // Expiry follows insertion order (one ttl for all), so expired entries are at the front.
    for (const [id, expiresAt] of this.#entries) {
      if (expiresAt > now && this.#entries.size <= this.maxEntries) break;
      this.#entries.delete(id);
    }
  }
}
