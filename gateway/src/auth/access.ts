/**
 * Who is calling, as the authentication layer decided, and what that caller may do. Every
 * request under /api and /dashboard carries an `Access` in `res.locals`: `open` when
 * authentication is off (AUTH_MODE=none: the contract's keyless behaviour), or the API key.
 * The checks below fail closed: a request that never went through authentication is refused.
 */
import type { Response } from 'express';
import { CelerityError, type TaskRecord } from '../../../shared/src/core/index.js';
import { READ_SCOPE, maySubmitTask, type ApiKeyInfo } from '../../../shared/src/auth/index.js';

export type Access = { kind: 'open' } | { kind: 'key'; key: ApiKeyInfo; via: 'bearer' | 'session' };

const ACCESS = Symbol('celerity.access');

export function setAccess(res: Response, access: Access): void {
  (res.locals as Record<symbol, Access>)[ACCESS] = access;
}

/** The caller of this request; throws (500) if authentication never ran, rather than allow. */
export function accessOf(res: Response): Access {
  const access = (res.locals as Record<symbol, Access | undefined>)[ACCESS];
  if (!access) throw new Error('No access decision for this request: the route is not behind authentication');
  return access;
}

/** The owner to record on a task this caller submits: its key id, or null when open. */
export function ownerOf(res: Response): string | null {
  const access = accessOf(res);
  return access.kind === 'key' ? access.key.id : null;
}

function isAdmin(access: Access): boolean {
  return access.kind === 'open' || access.key.scopes.admin;
}

/**
 * Throws 403 unless this caller may submit task `name`. One check per task: the batch
 * endpoint calls it for every item.
 */
export function assertMaySubmit(access: Access, name: string): void {
  if (access.kind === 'open' || maySubmitTask(access.key.scopes, name)) return;
  throw new CelerityError('FORBIDDEN', `This API key may not submit "${name}" (its scopes: ${describe(access.key)})`);
}

/** Whether this caller may read task results at all (`tasks:read` or `admin`). */
export function mayReadTasks(access: Access): boolean {
  return access.kind === 'open' || access.key.scopes.admin || access.key.scopes.read;
}

/** Throws 403 unless this caller may read task results at all (`tasks:read` or `admin`). */
export function assertMayReadTasks(access: Access): void {
  if (mayReadTasks(access)) return;
  throw new CelerityError('FORBIDDEN', `This API key may not read tasks or results: it needs the "${READ_SCOPE}" scope`);
}

/**
 * Whether this caller may see this task: admins and open access see all; a key sees only the
 * tasks it submitted. Callers answer 404 otherwise, so a task id of someone else's is not
 * even confirmed to exist.
 */
export function mayReadTask(access: Access, task: Pick<TaskRecord, 'owner'>): boolean {
  if (access.kind === 'open' || access.key.scopes.admin) return true;
  return access.key.scopes.read && task.owner != null && task.owner === access.key.id;
}

/** Throws 403 unless this caller is an admin (or authentication is off). */
export function assertAdmin(access: Access): void {
  if (isAdmin(access)) return;
  throw new CelerityError('FORBIDDEN', 'This needs an API key with the "admin" scope');
}

function describe(key: ApiKeyInfo): string {
  const words = [...(key.scopes.read ? [READ_SCOPE] : []), ...key.scopes.submit];
  return words.length > 0 ? words.join(', ') : 'none';
}
