/**
 * Workflows from the Node client, with Celery's names: `chain(a, b, c)`, `group([...])`,
 * `chord([...], body)`, built from task signatures (`task.s(...)`), started with
 * `client.workflow(...)`:
 *
 *   const h = await client.workflow(chain(add.s([1, 2]), add.s([3])));   // after every confirm
 *   await h.result();                                                       // 6
 *
 * A workflow value is the body `POST /api/v1/workflows` takes, so it can also be sent as JSON.
 */
import { MAX_TIMER_MS } from '../core/index.js';
import type { TaskSignature } from '../app/index.js';
import { toWorkflowRepresentation, type StartedWorkflow, type WorkflowRepresentation, type Workflows } from '../submit/index.js';
import { TaskFailedError, TaskTimeoutError } from './errors.js';

/** A chain, group or chord, not started yet; `R` is the type of its result. */
export type Workflow<R = unknown> = ({ chain: TaskSignature[] } | { group: TaskSignature[] } | { chord: { header: TaskSignature[]; body: TaskSignature } }) & {
  readonly '~result'?: R;
};

type ResultOf<S> = S extends TaskSignature<infer R> ? R : unknown;
type LastResult<S extends readonly TaskSignature[]> = S extends readonly [...unknown[], infer Last] ? ResultOf<Last> : unknown;

/** Runs the steps one after the other, each getting the previous result as its first argument; its result is the last step's. */
export function chain<const S extends readonly TaskSignature[]>(...steps: S): Workflow<LastResult<S>> {
  return { chain: [...steps] };
}

/** Runs the steps in parallel; its result is the list of their results, in order. */
export function group<R>(steps: readonly TaskSignature<R>[]): Workflow<R[]> {
  return { group: [...steps] };
}

/** Runs `header` as a group, then `body` once, with the list of their results as its first argument. */
export function chord<R, B>(header: readonly TaskSignature<R>[], body: TaskSignature<B>): Workflow<B> {
  return { chord: { header: [...header], body } };
}

/** A started workflow. */
export class WorkflowHandle<R = unknown> {
  readonly id: string;
  /** Every task of the workflow, in order (a chord's body last), with the id it runs under. */
  readonly tasks: readonly { id: string; name: string }[];

  constructor(
    started: StartedWorkflow,
    private readonly workflows: Workflows,
  ) {
    this.id = started.id;
    this.tasks = started.tasks;
  }

  /**
   * Resolves with the workflow's result once it ends: a chain's last result, a group's list,
   * a chord body's result. Rejects with TaskFailedError (its `taskId` the first task that
   * failed) when it fails, TaskTimeoutError after `timeoutMs`.
   */
  async result(options: { timeoutMs?: number } = {}): Promise<R> {
    const timeoutMs = Math.min(options.timeoutMs ?? MAX_TIMER_MS, MAX_TIMER_MS);
    const record = await this.workflows.wait(this.id, timeoutMs);
    if (record?.state === 'SUCCESS') return record.result as R;
    if (record?.state === 'FAILURE') throw new TaskFailedError(record.error?.taskId ?? this.id, 'FAILURE', record.error);
    throw new TaskTimeoutError(this.id, timeoutMs);
  }

  /** The workflow as it stands: its state and every task's state and result. */
  async info(): Promise<WorkflowRepresentation | undefined> {
    const record = await this.workflows.read(this.id);
    return record ? toWorkflowRepresentation(record) : undefined;
  }
}
