/**
 * The task catalogue: the tasks one process knows by name — an app's `defineTask` values,
 * plus external tasks for a gateway. The gateway validates and routes with it; the worker
 * finds each message's definition (and its `run`) in it.
 */
import { DEFAULT_RETRY_POLICY, queueTypeOf, type QueueType, type QueueTypes, type RetryPolicy } from '../core/index.js';
import type { TaskDefinition } from './define-task.js';
import { CLASSIC_QUEUES } from '../broker/index.js';
import { issuePath, validateSync, type StandardIssue } from './standard-schema.js';

export {  type TaskDefinition } from './define-task.js';

/** The retry policy of a task: its own settings over the defaults. */
export function retryPolicyOf(task: TaskDefinition | undefined): RetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...(task?.retry ?? {}) };
}

export class Catalogue {
  readonly #byName: ReadonlyMap<string, TaskDefinition>;

  constructor(tasks: readonly TaskDefinition[]) {
    const byName = new Map<string, TaskDefinition>();
    const typeOf = new Map<string, TaskDefinition>();
    const priorityOf = new Map<string, TaskDefinition>();
    for (const task of tasks) {
      if (byName.has(task.name)) throw new Error(`Task ${task.name} is declared twice`);
      byName.set(task.name, task);
      if (task.maxPriority !== undefined) {
        const other = priorityOf.get(task.queue);
        if (other && other.maxPriority !== task.maxPriority) {
          throw new Error(`Queue ${task.queue} is given two maxPriority values: ${other.maxPriority} by task ${other.name}, ${task.maxPriority} by task ${task.name}`);
        }
        priorityOf.set(task.queue, task);
      }
      if (!task.queueType) continue;
      const other = typeOf.get(task.queue);
      if (other && other.queueType !== task.queueType) {
        throw new Error(`Queue ${task.queue} is given two types: ${other.queueType} by task ${other.name}, ${task.queueType} by task ${task.name}`);
      }
      typeOf.set(task.queue, task);
    }
    for (const [queue, prioritised] of priorityOf) {
      const typed = typeOf.get(queue);
      if (typed?.queueType === 'quorum') {
        throw new Error(`Queue ${queue} is made quorum by task ${typed.name} and given maxPriority ${prioritised.maxPriority} by task ${prioritised.name}: quorum queues take no x-max-priority`);
      }
    }
    this.#byName = byName;
  }

  /**
   * The queue declarations in force. Types: QUEUE_TYPES' own entry for a queue wins, then the
   * `queueType` a task definition names for its queue, then QUEUE_TYPES' `*` default. Priorities
   * alike: QUEUE_MAX_PRIORITY's entry, then a task's `maxPriority`. A priority on a queue that
   * ends up quorum is refused (RabbitMQ would refuse or ignore it), naming where each came from.
   */
  queueTypes(configured: QueueTypes = CLASSIC_QUEUES): QueueTypes {
    const perQueue: Record<string, QueueType> = {};
    const maxPriority: Record<string, number> = {};
    const priorityFrom: Record<string, string> = {};
    for (const task of this.#byName.values()) {
      if (task.queueType && !(task.queue in configured.perQueue)) perQueue[task.queue] = task.queueType;
      if (task.maxPriority !== undefined && !(task.queue in (configured.maxPriority ?? {}))) {
        maxPriority[task.queue] = task.maxPriority;
        priorityFrom[task.queue] = `task ${task.name}'s maxPriority`;
      }
    }
    const types: QueueTypes = { default: configured.default, perQueue: { ...perQueue, ...configured.perQueue } };
    const priorities = { ...maxPriority, ...configured.maxPriority };
    for (const queue of Object.keys(priorities)) {
      if (queueTypeOf(types, queue) === 'quorum') {
        throw new Error(
          `Queue ${queue} is quorum but has a maximum priority (from ${priorityFrom[queue] ?? 'QUEUE_MAX_PRIORITY'}): quorum queues take no x-max-priority; make the queue classic or drop the priority`,
        );
      }
    }
    return Object.keys(priorities).length > 0 ? { ...types, maxPriority: priorities } : types;
  }

  get(name: string): TaskDefinition | undefined {
    return this.#byName.get(name);
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }

  /** The queues the catalogue's tasks go to by default (each once, in declaration order). */
  defaultQueues(): string[] {
    return [...new Set([...this.#byName.values()].map((t) => t.queue))];
  }

  /** The queues of the tasks a worker runs itself (not `external`): what it consumes without `--queues`. */
  workerQueues(): string[] {
    return [...new Set([...this.#byName.values()].filter((t) => !t.external).map((t) => t.queue))];
  }

  /** This catalogue plus `tasks` (e.g. external tasks from configuration). */
  with(tasks: readonly TaskDefinition[]): Catalogue {
    return new Catalogue([...this.#byName.values(), ...tasks]);
  }
}

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
