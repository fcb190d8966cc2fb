/**
 * defineTask's `concurrency`: at most `limit` tasks of one key run at once across every worker
 * process (worker/src/flow/). Read here, once, when the app loads, so that a limit that is not
 * one stops the app naming the task instead of surfacing on the first message.
 */

/** What happens to a task whose key has `limit` tasks running already. */
export type ConcurrencyStrategy = 'queue' | 'cancel-in-progress' | 'cancel-newest';
const CONCURRENCY_STRATEGIES: readonly ConcurrencyStrategy[] = ['queue', 'cancel-in-progress', 'cancel-newest'];

/**
 * A task's per-key concurrency limit (`defineTask({ concurrency })`). `I` is what the key
 * function gets: a one-object task's parsed input, else `{ args, kwargs }` as parsed.
 */
export interface ConcurrencyConfig<I = unknown> {
  /**
   * The key a task counts against, from its parsed input: a string of at most 200 characters
   * (a throw, another type or a longer string fails that task with `ConcurrencyKeyError`).
   * @default one key ('') for the task type as a whole
   */
  key?: (input: I) => string;
  /** Tasks of one key running at once, fleet-wide: a positive integer. */
  limit: number;
  /**
   * A task whose key is full: `queue` waits for a slot (out of the broker queue, in PostgreSQL,
   * so other keys go on); `cancel-newest` ends REVOKED at once; `cancel-in-progress` revokes
   * (terminates) the oldest running tasks of the key and the older waiting ones, then runs.
   * @default 'queue'
   */
  strategy?: ConcurrencyStrategy;
  /**
   * The optional weights of fair turns: a key's limit is `limit × weight`, rounded down, at
   * least 1 (keys not listed weigh 1). E.g. `{ limit: 1, weights: { premium: 3 } }`.
   * @default every key 1
   */
  weights?: Record<string, number>;
}

/** A concurrency limit as {@link ConcurrencyConfig} says, frozen, or undefined when none is given. */
export function readConcurrency(value: unknown): { ok: true; concurrency: ConcurrencyConfig } | { ok: false; problem: string } {
  if (typeof value !== 'object' || value === null) return { ok: false, problem: 'concurrency must be an object: { key?, limit, strategy?, weights? }' };
  const { key, limit, strategy, weights } = value as Record<string, unknown>;
  if (key !== undefined && typeof key !== 'function') return { ok: false, problem: 'concurrency.key must be a function of the task\'s input returning a string' };
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) return { ok: false, problem: 'concurrency.limit must be a positive integer' };
  if (strategy !== undefined && !(CONCURRENCY_STRATEGIES as readonly unknown[]).includes(strategy)) {
    return { ok: false, problem: `concurrency.strategy must be ${CONCURRENCY_STRATEGIES.join(', ')}` };
  }
  if (weights !== undefined && (typeof weights !== 'object' || weights === null || Array.isArray(weights))) return { ok: false, problem: 'concurrency.weights must be an object of key → weight' };
  for (const [k, weight] of Object.entries(weights ?? {})) {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) return { ok: false, problem: `concurrency.weights[${JSON.stringify(k)}] must be a positive number` };
  }
  const concurrency: ConcurrencyConfig = Object.freeze({
    limit,
    ...(key ? { key: key as ConcurrencyConfig['key'] } : {}),
    ...(strategy ? { strategy: strategy as ConcurrencyStrategy } : {}),
    ...(weights ? { weights: Object.freeze({ ...(weights as Record<string, number>) }) } : {}),
  });
  return { ok: true, concurrency };
}
