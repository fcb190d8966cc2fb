/**
 * The task catalogue: the one place that declares every task Celerity knows — its name,
 * default queue, argument schema and whether it is CPU-bound. The gateway validates and
 * routes with it; the worker maps the same names to implementations.
 */
import { z } from 'zod';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';

export interface TaskDefinition {
  /** Dotted task name, e.g. `demo.add`. */
  name: string;
  /** Queue the task is published to unless the caller sets `options.queue`. */
  queue: string;
  /** Schema of the positional arguments. */
  args: z.ZodType<unknown[]>;
  /** Schema of the keyword arguments. */
  kwargs: z.ZodType<Record<string, unknown>>;
  /** CPU-bound tasks run in the worker's thread pool so its event loop stays free. */
  cpu: boolean;
  description: string;
  /** Retry policy; fields left out come from DEFAULT_RETRY_POLICY. */
  retry?: Partial<RetryPolicy>;
  /**
   * Hard time limit in seconds: past it the task is failed (TimeLimitExceeded) and its slot
   * reclaimed. @default the worker's WORKER_TIME_LIMIT_SECONDS
   */
  timeLimitS?: number;
  /** Soft time limit in seconds: past it the task's AbortSignal fires. @default none */
  softTimeLimitS?: number;
  /**
   * Implemented outside Celerity, e.g. by Python Celery workers consuming `queue`: the gateway
   * validates and routes it, always asks for a reply, and records the result that reply
   * carries; Celerity workers do not run it. See docs/celery.md. @default false
   */
  external?: boolean;
}

/**
 * A task that Python Celery workers (or any Celery-protocol worker) implement: any args and
 * kwargs, routed to `queue`. Add it to the gateway's catalogue so the gateway accepts the name.
 */
export function externalTask(name: string, queue: string, description = `Runs on a Celery worker consuming "${queue}".`): TaskDefinition {
  return { name, queue, args: z.array(z.unknown()), kwargs: z.record(z.string(), z.unknown()), cpu: false, description, external: true };
}

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
  const issues: ArgumentIssue[] = [];
  const parsedArgs = task.args.safeParse(args);
  const parsedKwargs = task.kwargs.safeParse(kwargs);
  if (!parsedArgs.success) issues.push(...toIssues('args', parsedArgs.error));
  if (!parsedKwargs.success) issues.push(...toIssues('kwargs', parsedKwargs.error));
  if (!parsedArgs.success || !parsedKwargs.success) return { ok: false, issues };
  return { ok: true, args: parsedArgs.data, kwargs: parsedKwargs.data };
}

function toIssues(root: string, error: z.ZodError): ArgumentIssue[] {
  return error.issues.map((issue) => ({
    path: [root, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
}

export function formatIssues(issues: readonly ArgumentIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}
