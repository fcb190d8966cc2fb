/**
 * `celerity keys create|list|revoke` (npm run keys -- ...): API key management for operators.
 * The secret is printed once, at creation; only its hash is stored.
 */
import type pg from 'pg';
import {
  ApiKeyError,
  ApiKeyStore,
  ScopeError,
  formatScopes,
  type ApiKeyInfo,
} from '../../shared/src/auth/index.js';

export interface CreateKeyFlags {
  name: string;
  scopes: string;
  rate?: string;
  json?: boolean;
}

/** A mistake the operator can fix: printed as is, exit code 2. */
export class KeysUsageError extends Error {
  override readonly name = 'KeysUsageError';
}

function describe(key: ApiKeyInfo): Record<string, unknown> {
  return {
    id: key.id,
    name: key.name,
    scopes: formatScopes(key.scopes),
    ratePerMinute: key.ratePerMinute,
    createdAt: key.createdAt.toISOString(),
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}

async function withStore<T>(pool: pg.Pool, fn: (store: ApiKeyStore) => Promise<T>): Promise<T> {
  try {
    return await fn(new ApiKeyStore(pool));
  } catch (err) {
    if (err instanceof ApiKeyError || err instanceof ScopeError) throw new KeysUsageError(err.message, { cause: err });
    if ((err as { code?: unknown }).code === '42P01') {
      throw new KeysUsageError('The api_keys table does not exist in this schema: run npm run migrate first', { cause: err });
    }
    throw err;
  }
}

export async function createKey(pool: pg.Pool, flags: CreateKeyFlags): Promise<string> {
  let rate: number | null = null;
  if (flags.rate !== undefined) {
    if (!/^\d+$/.test(flags.rate) || Number(flags.rate) < 1) throw new KeysUsageError(`--rate must be a whole number of tasks per minute, got "${flags.rate}"`);
    rate = Number(flags.rate);
  }
  const key = await withStore(pool, (store) => store.create({ name: flags.name, scopes: flags.scopes, ratePerMinute: rate }));
  if (flags.json) return `${JSON.stringify({ ...describe(key), key: key.secret })}\n`;
  return [
    `Created API key "${key.name}" (id ${key.id}); scopes: ${formatScopes(key.scopes).join(', ')}; rate: ${key.ratePerMinute ?? 'RATE_LIMIT_PER_MINUTE'} per minute.`,
    'The key (shown this once; only its hash is stored):',
    '',
    `  ${key.secret}`,
    '',
    `Use it as: Authorization: Bearer ${key.secret.slice(0, 17)}...`,
    '',
  ].join('\n');
}

export async function listKeys(pool: pg.Pool, flags: { json?: boolean; all?: boolean }): Promise<string> {
  const keys = (await withStore(pool, (store) => store.list())).filter((k) => flags.all || k.revokedAt === null);
  if (flags.json) return `${JSON.stringify(keys.map(describe))}\n`;
  if (keys.length === 0) return flags.all ? 'No API keys.\n' : 'No API keys in force (--all lists revoked ones too).\n';
  const rows = keys.map((k) => [
    k.id,
    k.name,
    formatScopes(k.scopes).join(','),
    String(k.ratePerMinute ?? 'default'),
    k.createdAt.toISOString(),
    k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active',
  ]);
  const header = ['ID', 'NAME', 'SCOPES', 'RATE/MIN', 'CREATED', 'STATUS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  return `${[header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n')}\n`;
}

/** `keys revoke <id>` or `keys revoke --name <name>`: exactly one of them. */
export interface RevokeKeyTarget {
  id?: string | undefined;
  name?: string | undefined;
}

const KEY_ID = /^[0-9a-f]{12}$/;

export async function revokeKey(pool: pg.Pool, target: RevokeKeyTarget): Promise<string> {
  if ((target.id === undefined) === (target.name === undefined)) {
    throw new KeysUsageError('Give the key\'s id (celerity keys revoke <id>) or its name (celerity keys revoke --name <name>), not both');
  }
  if (target.id !== undefined && !KEY_ID.test(target.id)) {
    throw new KeysUsageError(`"${target.id}" is not a key id (12 hex digits, see celerity keys list); to revoke by name: celerity keys revoke --name ${target.id}`);
  }
  const key = await withStore(pool, (store) => store.revoke(target.id !== undefined ? { id: target.id } : { name: target.name ?? '' }));
  const how = target.id !== undefined ? `id "${target.id}"` : `name "${target.name}"`;
  if (!key) throw new KeysUsageError(`No API key in force with the ${how} (celerity keys list)`);
  return `Revoked API key "${key.name}" (id ${key.id}); it is refused from the next request on.\n`;
}
