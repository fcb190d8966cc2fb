/**
 * API keys in PostgreSQL: create, list, revoke, and verify a presented key. A key reads
 * `cel_<id>_<secret>`: the id (12 hex digits) finds the row, and only a SHA-256 of the
 * 256-bit secret is stored, compared in constant time. Every verification reads the database
 * (no cache), so a revocation takes effect on the very next request, in every gateway.
 *
 * Dashboard sessions live here too: an admin key exchanged for an opaque random token (the
 * cookie), stored hashed, ended by expiry, logout or revoking the key.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import {
  COUNT_ACTIVE_API_KEYS,
  DELETE_API_KEY_SESSION,
  DELETE_EXPIRED_API_KEY_SESSIONS,
  INSERT_API_KEY,
  INSERT_API_KEY_SESSION,
  isRetryablePgError,
  REVOKE_API_KEY,
  SELECT_ACTIVE_API_KEY,
  SELECT_API_KEY_SESSION,
  SELECT_API_KEYS,
} from '../store/index.js';
import { CelerityError } from '../core/index.js';
import { formatScopes, parseScopes, type Scopes } from './scopes.js';

const API_KEY_PREFIX = 'cel_';
/** `cel_` + 12 hex digits + `_` + 43 base64url characters (32 random bytes). */
const API_KEY_FORMAT = /^cel_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
/** Key names: what operators type to revoke them. */
const KEY_NAME = /^[A-Za-z0-9_.:@-]{1,100}$/;
const KEY_NAME_RULE = 'letters, digits and . _ : @ -, at most 100';

export interface ApiKeyInfo {
  id: string;
  name: string;
  scopes: Scopes;
  /** Tasks per minute (a batch of N counts N); null = the gateway's RATE_LIMIT_PER_MINUTE. */
  ratePerMinute: number | null;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface CreatedApiKey extends ApiKeyInfo {
  /** The whole key, to give to the caller. Shown once: only its hash is stored. */
  secret: string;
}

interface ApiKeyRow {
  id: string;
  name: string;
  scopes: string[];
  rate_per_minute: number | null;
  created_at: Date;
  revoked_at: Date | null;
  secret_hash?: Buffer;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function toInfo(row: ApiKeyRow): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    scopes: parseScopes(row.scopes),
    ratePerMinute: row.rate_per_minute,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

/** Splits a presented key into id and secret; undefined when it is not a Celerity key. */
export function parseApiKey(token: string): { id: string; secret: string } | undefined {
  const match = API_KEY_FORMAT.exec(token);
  return match?.[1] && match[2] ? { id: match[1], secret: match[2] } : undefined;
}

export class ApiKeyError extends Error {
  override readonly name = 'ApiKeyError';
}

function unavailable(err: unknown): Error {
  if (isRetryablePgError(err) || (err as { code?: unknown } | null)?.code === 'ECONNREFUSED') {
    return new CelerityError('DATABASE_UNAVAILABLE', 'The database is unavailable', { cause: err, retryAfterS: 2 });
  }
  return err instanceof Error ? err : new Error(String(err), { cause: err });
}

export class ApiKeyStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Creates a key; the returned `secret` is the only copy of the key there will ever be. */
  async create(options: { name: string; scopes: string | readonly string[]; ratePerMinute?: number | null }): Promise<CreatedApiKey> {
    if (!KEY_NAME.test(options.name)) throw new ApiKeyError(`Invalid key name "${options.name}": ${KEY_NAME_RULE}`);
    const scopes = parseScopes(options.scopes);
    const rate = options.ratePerMinute ?? null;
    if (rate !== null && (!Number.isInteger(rate) || rate < 1)) throw new ApiKeyError('The rate must be a whole number of tasks per minute, at least 1');
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    try {
      const { rows } = await this.pool.query<ApiKeyRow>(INSERT_API_KEY, [id, options.name, sha256(secret), formatScopes(scopes), rate]);
      const row = rows[0];
      if (!row) throw new Error('INSERT ... RETURNING returned no row');
      return { ...toInfo(row), secret: `${API_KEY_PREFIX}${id}_${secret}` };
    } catch (err) {
      if ((err as { code?: unknown }).code === '23505') throw new ApiKeyError(`A key named "${options.name}" already exists; revoke it first or pick another name`);
      throw err;
    }
  }

  /** Every key, revoked ones included (never a secret or hash). */
  async list(): Promise<ApiKeyInfo[]> {
    const { rows } = await this.pool.query<ApiKeyRow>(SELECT_API_KEYS);
    return rows.map(toInfo);
  }

  async countActive(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(COUNT_ACTIVE_API_KEYS);
    return rows[0]?.n ?? 0;
  }

  /**
   * Revokes the key in force with this id, or this name; undefined when there is none. Never
   * both ways at once: a name may look like another key's id (12 hex digits). The id is the
   * primary key and a name is unique among keys in force, so at most one key is revoked.
   */
  async revoke(target: { id: string } | { name: string }): Promise<ApiKeyInfo | undefined> {
    const byName = 'name' in target;
    const { rows } = await this.pool.query<ApiKeyRow>(REVOKE_API_KEY, [byName ? target.name : target.id, byName]);
    if (rows.length > 1) throw new Error(`Revoking ${JSON.stringify(target)} matched ${rows.length} keys`);
    return rows[0] ? toInfo(rows[0]) : undefined;
  }

  /** The key in force that `token` is, or undefined (unknown, revoked, wrong secret, not a key). */
  async verify(token: string): Promise<ApiKeyInfo | undefined> {
    const parsed = parseApiKey(token);
    if (!parsed) return undefined;
    let rows: ApiKeyRow[];
    try {
      ({ rows } = await this.pool.query<ApiKeyRow>({ name: 'celerity_select_api_key', text: SELECT_ACTIVE_API_KEY, values: [parsed.id] }));
    } catch (err) {
      throw unavailable(err);
    }
    const row = rows[0];
    const presented = sha256(parsed.secret);
    // Compare even when no row was found, so the time taken does not tell whether an id exists.
    const stored = row?.secret_hash ?? Buffer.alloc(presented.length);
    const equal = stored.length === presented.length && timingSafeEqual(stored, presented);
    return row && equal ? toInfo(row) : undefined;
  }

  /** Starts a dashboard session for a key; returns the opaque token for the cookie. */
  async createSession(keyId: string, ttlS: number): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    try {
      await this.pool.query(DELETE_EXPIRED_API_KEY_SESSIONS);
      await this.pool.query(INSERT_API_KEY_SESSION, [sha256(token), keyId, ttlS]);
    } catch (err) {
      throw unavailable(err);
    }
    return token;
  }

  /** The key behind a session token, while the session is unexpired and the key in force. */
  async verifySession(token: string): Promise<ApiKeyInfo | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    try {
      const { rows } = await this.pool.query<ApiKeyRow>({ name: 'celerity_select_api_key_session', text: SELECT_API_KEY_SESSION, values: [sha256(token)] });
      return rows[0] ? toInfo(rows[0]) : undefined;
    } catch (err) {
      throw unavailable(err);
    }
  }

  async endSession(token: string): Promise<void> {
    await this.pool.query(DELETE_API_KEY_SESSION, [sha256(token)]);
  }
}
