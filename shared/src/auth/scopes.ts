/**
 * What an API key may do. A key's scopes are a list of words:
 *
 *   admin        everything: any task, every task's state, dead letters, the dashboard,
 *                /metrics, key management
 *   tasks:read   read the tasks this key submitted (GET /api/v1/tasks/{id}, `?wait=`)
 *   <pattern>    submit the tasks whose name matches: `report.words`, `report.*`, `*`
 *                (`*` stands for any run of characters, dots included)
 *   queue:<pattern>  name these queues in a submit's `options.queue`, besides the gateway's
 *                own (never a reserved one: shared/src/auth/queue-access.ts)
 *
 * Nothing is implied except by `admin`: a key with only `report.*` may submit but gets 403 when
 * it asks to read a result (including `?wait=` on a submit).
 */

const ADMIN_SCOPE = 'admin';
export const READ_SCOPE = 'tasks:read';
/** Prefix of a scope naming queues a key may put in `options.queue`. */
const QUEUE_SCOPE_PREFIX = 'queue:';

/** The rule of a task-name pattern, in words, for error messages. */
const SCOPE_RULE = `"${ADMIN_SCOPE}", "${READ_SCOPE}", a task-name pattern of letters, digits, . _ - and * (e.g. report.*), or queue:<queue-name pattern>`;

const TASK_PATTERN = /^[A-Za-z0-9_.*-]{1,200}$/;
const QUEUE_PATTERN = /^[A-Za-z0-9_.:*-]{1,200}$/;

export interface Scopes {
  admin: boolean;
  read: boolean;
  /** Task-name patterns this key may submit. */
  submit: string[];
  /** Queue-name patterns this key may name in `options.queue` (`queue:` scopes); absent = none. */
  queues?: string[];
}

export class ScopeError extends Error {
  override readonly name = 'ScopeError';
}

/** Parses `report.*,tasks:read` (or a list); throws a ScopeError naming the bad scope. */
export function parseScopes(value: string | readonly string[]): Scopes {
  const words = (typeof value === 'string' ? value.split(',') : value).map((w) => w.trim()).filter((w) => w !== '');
  if (words.length === 0) throw new ScopeError(`A key needs at least one scope: ${SCOPE_RULE}`);
  const scopes: Scopes = { admin: false, read: false, submit: [] };
  for (const word of words) {
    if (word === ADMIN_SCOPE) scopes.admin = true;
    else if (word === READ_SCOPE) scopes.read = true;
    else if (word.startsWith(QUEUE_SCOPE_PREFIX) && QUEUE_PATTERN.test(word.slice(QUEUE_SCOPE_PREFIX.length))) {
      const pattern = word.slice(QUEUE_SCOPE_PREFIX.length);
      scopes.queues ??= [];
      if (!scopes.queues.includes(pattern)) scopes.queues.push(pattern);
    } else if (TASK_PATTERN.test(word)) {
      if (!scopes.submit.includes(word)) scopes.submit.push(word);
    } else throw new ScopeError(`Unknown scope "${word}": a scope is ${SCOPE_RULE}`);
  }
  return scopes;
}

/** The scopes as stored and listed: `admin`, `tasks:read`, then the patterns. */
export function formatScopes(scopes: Scopes): string[] {
  return [
    ...(scopes.admin ? [ADMIN_SCOPE] : []),
    ...(scopes.read ? [READ_SCOPE] : []),
    ...scopes.submit,
    ...(scopes.queues ?? []).map((pattern) => `${QUEUE_SCOPE_PREFIX}${pattern}`),
  ];
}

function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`);
}

const compiled = new Map<string, RegExp>();

/** True when `name` matches the task-name (or queue-name) pattern (`*` = any run of characters). */
export function matchesTaskPattern(pattern: string, name: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    re = patternToRegExp(pattern);
    // Patterns come from a handful of keys; the bound only guards against a pathological set.
    if (compiled.size < 10_000) compiled.set(pattern, re);
  }
  return re.test(name);
}

/** True when these scopes allow submitting task `name`. */
export function maySubmitTask(scopes: Scopes, name: string): boolean {
  return scopes.admin || scopes.submit.some((pattern) => matchesTaskPattern(pattern, name));
}
