/**
 * Starting and reading workflows, for the gateway's `/api/v1/workflows` and the Node client's
 * `client.workflow()`: the workflow and its tasks are recorded first (so a worker that finishes
 * one finds its row), then the tasks it starts with are published like a batch, each confirmed.
 * How a workflow goes on from there is the worker's (worker/src/pipeline/follow.ts).
 */
import { CelerityError, type Logger, type TaskError, type TaskState } from '../core/index.js';
import type { WorkflowKind, WorkflowRecord, WorkflowRole, WorkflowStore } from '../store/index.js';
import type { Submitter } from './submitter.js';
import { assertNoDedupe, type Submission } from './submission.js';
import { prepareWorkflow, type PrepareStep } from './workflow-request.js';

/** The public view of a workflow (HTTP and the client). */
export interface WorkflowRepresentation {
  id: string;
  kind: WorkflowKind;
  /** PENDING (nothing started yet), STARTED, SUCCESS or FAILURE. */
  state: 'PENDING' | 'STARTED' | 'SUCCESS' | 'FAILURE';
  /** A chain's last result, a group's list of results in order, a chord body's result. */
  result: unknown;
  /** The first failed task's error and id. */
  error: (TaskError & { taskId: string }) | null;
  createdAt: string;
  finishedAt: string | null;
  tasks: { id: string; name: string; role: WorkflowRole; position: number; state: TaskState; result: unknown; error: TaskError | null }[];
}

/** What a start answers: the workflow's id and every task's id, in order. */
export interface StartedWorkflow {
  id: string;
  tasks: { id: string; name: string }[];
}

export interface WorkflowsDeps {
  submitter: Submitter;
  store: WorkflowStore;
  logger: Logger;
  /** Most tasks in a chain, group or chord header (`GATEWAY_MAX_BATCH`). @default 1000 */
  maxTasks?: number;
  /** Validates one step. @default the submitter's `prepare` (names in its catalogue only) */
  prepare?: PrepareStep;
}

/** Polls for a waited workflow, in ms: from the first to the last, doubling. */
const POLL_MS = { first: 100, last: 1_000 };

export function toWorkflowRepresentation(record: WorkflowRecord): WorkflowRepresentation {
  const started = record.tasks.some((t) => t.state !== null && t.state !== 'PENDING');
  return {
    id: record.id,
    kind: record.kind,
    state: record.state === 'PENDING' && started ? 'STARTED' : record.state,
    result: record.result ?? null,
    error: record.error,
    createdAt: record.createdAt.toISOString(),
    finishedAt: record.finishedAt?.toISOString() ?? null,
    tasks: record.tasks.map((t) => ({ id: t.taskId, name: t.name, role: t.role, position: t.position, state: t.state ?? 'PENDING', result: t.result ?? null, error: t.error })),
  };
}

export class Workflows {
  readonly #maxTasks: number;

  constructor(private readonly deps: WorkflowsDeps) {
    this.#maxTasks = deps.maxTasks ?? 1000;
  }

  /**
   * Validates every step, records the workflow, publishes the tasks it starts with and
   * resolves once the broker confirmed them all. `check(name)` is called for every step's
   * task before anything is recorded (the gateway's scope check).
   */
  // `request`: a chain, group or chord (the client's Workflow), or an HTTP body still to be checked.
  async start(request: unknown, options: { owner?: string | null; check?: (name: string) => void } = {}): Promise<StartedWorkflow> {
    const { submitter, store, logger } = this.deps;
    const prepareStep = this.deps.prepare ?? ((name, body, complete) => submitter.prepare(name, body, complete));
    const prepare = (name: string, body: unknown, complete: boolean): Submission => {
      const submission = prepareStep(name, body, complete);
      assertNoDedupe(submission, 'a workflow step');
      return submission;
    };
    const prepared = prepareWorkflow(prepare, request, this.#maxTasks);
    for (const m of prepared.members) options.check?.(m.name);
    const owner = options.owner ?? null;
    await store.create({ id: prepared.id, kind: prepared.kind, tasks: prepared.members, owner });
    const outcomes = await submitter.submitMany(prepared.submissions.map((s) => ({ ...s, owner })));
    const failed = outcomes.findIndex((o) => o.status === 'rejected');
    if (failed >= 0) {
      const reason = (outcomes[failed] as PromiseRejectedResult).reason as unknown;
      const message = reason instanceof Error ? reason.message : String(reason);
      // Tasks published before the failure still run; the workflow is failed so nothing waits on it forever.
      await store.fail(prepared.id, { type: 'PublishError', message, taskId: prepared.submissions[failed]!.id }).catch((err: unknown) => {
        logger.error('could not record a workflow whose publish failed as FAILURE', { workflowId: prepared.id, err });
      });
      logger.warn('workflow publish failed', { workflowId: prepared.id, kind: prepared.kind, error: message });
      if (reason instanceof CelerityError) throw reason;
      throw new CelerityError('BROKER_UNAVAILABLE', `The workflow's tasks could not all be published: ${message}`, { cause: reason, retryAfterS: 2 });
    }
    logger.info('workflow started', { workflowId: prepared.id, kind: prepared.kind, tasks: prepared.members.length });
    return { id: prepared.id, tasks: prepared.members.map((m) => ({ id: m.taskId, name: m.name })) };
  }

  async read(id: string): Promise<WorkflowRecord | undefined> {
    return this.deps.store.get(id);
  }

  /** The workflows task `taskId` belongs to. */
  ofTask(taskId: string): ReturnType<WorkflowStore['ofTask']> {
    return this.deps.store.ofTask(taskId);
  }

  /**
   * The workflow once it is final, or as it stands when `timeoutMs` is up or `signal` aborts.
   * Polls the store (every 100 ms at first, backing off to 1 s): a workflow ends in a worker.
   */
  async wait(id: string, timeoutMs: number, signal?: { readonly aborted: boolean }): Promise<WorkflowRecord | undefined> {
    const deadline = Date.now() + timeoutMs;
    let delay = POLL_MS.first;
    for (;;) {
      const record = await this.read(id);
      if (!record || record.state !== 'PENDING' || signal?.aborted) return record;
      const left = deadline - Date.now();
      if (left <= 0) return record;
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
      delay = Math.min(delay * 2, POLL_MS.last);
    }
  }
}
