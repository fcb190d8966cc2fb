/**
 * The task catalogue: the one place that declares every task Celerity knows — its name,
 * default queue, argument schema and whether it is CPU-bound. The gateway validates and
 * routes with it; the worker maps the same names to implementations.
 */
import { z } from 'zod';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
import type { TaskDefinition } from './app/define-task.js';
import { issuePath, validateSync, type StandardIssue } from './app/standard-schema.js';

export { externalTask, type TaskDefinition } from './app/define-task.js';

/** The retry policy of a task: its own settings over the defaults. */
export function retryPolicyOf(task: TaskDefinition | undefined): RetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...(task?.retry ?? {}) };
}

const noKwargs = z.object({}).strict();

/** Upper bound for `demo.fib`: the naive recursion is exponential, F(45) already takes seconds. */
export const FIB_MAX_N = 45;
/** Upper bound for `demo.sleep`, in seconds. */
export const SLEEP_MAX_S = 3600;

const definitions: TaskDefinition[] = [
  {
    name: 'demo.add',
    queue: 'demo',
    args: z.tuple([z.number(), z.number()]),
    kwargs: noKwargs,
    cpu: false,
    description: 'Adds two numbers.',
  },
  {
    name: 'demo.echo',
    queue: 'demo',
    args: z.array(z.unknown()),
    kwargs: z.record(z.string(), z.unknown()),
    cpu: false,
    description: 'Returns its arguments: {"args": [...], "kwargs": {...}}.',
  },
  {
    name: 'demo.sleep',
    queue: 'demo',
    args: z.tuple([z.number().min(0).max(SLEEP_MAX_S)]),
    kwargs: noKwargs,
    cpu: false,
    description: 'Waits the given number of seconds without blocking, then returns it.',
  },
  {
    name: 'demo.fail',
    queue: 'demo',
    args: z.tuple([z.string()]),
    kwargs: noKwargs,
    cpu: false,
    description: 'Fails with the given message; never retried.',
  },
  {
    name: 'demo.flaky',
    queue: 'demo',
    args: z.tuple([z.number().int().min(0).max(100)]).rest(z.string()),
    kwargs: noKwargs,
    cpu: false,
    retry: { backoffMs: 200, backoffMaxMs: 2_000 },
    description:
      'Fails with a RetryableError on its first n attempts, then returns the attempt number (retries + 1): [n] or [n, message]. Shows retries with backoff.',
  },
  {
    name: 'demo.fib',
    queue: 'demo',
    args: z.tuple([z.number().int().min(0).max(FIB_MAX_N)]),
    kwargs: noKwargs,
    cpu: true,
    description: 'The n-th Fibonacci number by naive recursion (CPU-bound, runs in the thread pool).',
  },
];

export class Catalogue {
  readonly #byName: ReadonlyMap<string, TaskDefinition>;

  constructor(tasks: readonly TaskDefinition[]) {
    const byName = new Map<string, TaskDefinition>();
    for (const task of tasks) {
      if (byName.has(task.name)) throw new Error(`Task ${task.name} is declared twice`);
      byName.set(task.name, task);
    }
    this.#byName = byName;
  }

  get(name: string): TaskDefinition | undefined {
    return this.#byName.get(name);
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }

  /** The queues the catalogue's tasks go to by default: what a worker consumes without `--queues`. */
  defaultQueues(): string[] {
    return [...new Set([...this.#byName.values()].map((t) => t.queue))];
  }

  /** This catalogue plus `tasks` (e.g. external tasks from configuration). */
  with(tasks: readonly TaskDefinition[]): Catalogue {
    return new Catalogue([...this.#byName.values(), ...tasks]);
  }
}

export const catalogue = new Catalogue(definitions);

export interface ArgumentIssue {
  path: string;
  message: string;
}

export type ArgumentCheck =
  | { ok: true; args: unknown[]; kwargs: Record<string, unknown> }
  | { ok: false; issues: ArgumentIssue[] };

/** Checks args and kwargs against a task's schemas; used by the gateway and again by the worker. */
export function checkArguments(task: TaskDefinition, args: unknown, kwargs: unknown): ArgumentCheck {
  const parsedArgs = validateSync(task.args, args);
  const parsedKwargs = validateSync(task.kwargs, kwargs);
  if (parsedArgs.issues || parsedKwargs.issues) {
    return { ok: false, issues: [...toIssues('args', parsedArgs.issues), ...toIssues('kwargs', parsedKwargs.issues)] };
  }
  return { ok: true, args: parsedArgs.value, kwargs: parsedKwargs.value };
}

function toIssues(root: string, issues: ReadonlyArray<StandardIssue> | undefined): ArgumentIssue[] {
  return (issues ?? []).map((issue) => ({ path: issuePath(root, issue), message: issue.message }));
}

export function formatIssues(issues: readonly ArgumentIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}
