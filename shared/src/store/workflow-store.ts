/**
 * Workflows in PostgreSQL: a chain, group or chord, its tasks in order, and how it ended.
 * Celery counts a chord's header in its result backend, where a redelivered header task can
 * count twice (the callback fires twice) or a lost update never (it never fires). Here each
 * task's end is counted in the same transaction that marks that task complete, keyed by its
 * id and under the workflow row's lock: a task counts once however often it ends, two tasks
 * ending at the same instant count one after the other, and exactly one of them sees the last
 * count. The decisions (what a task's end means for its workflow) are `decide` below.
 */
import type pg from 'pg';
import { CelerityError, type TaskError, type TaskState } from '../core/index.js';
import { databaseUnavailable } from './batch-query.js';
import {
  COUNT_COMPLETION,
  FINISH_WORKFLOW,
  INSERT_WORKFLOW,
  INSERT_WORKFLOW_TASKS,
  LOCK_WORKFLOW,
  MARK_BODY_PUBLISHED,
  MARK_COMPLETED,
  SELECT_COUNTED_OUTCOMES,
  SELECT_MEMBER,
  SELECT_WORKFLOW,
  SELECT_WORKFLOW_TASKS,
  SELECT_WORKFLOWS_OF_TASK,
} from './workflow-statements.js';

export type WorkflowKind = 'chain' | 'group' | 'chord';
export type WorkflowState = 'PENDING' | 'SUCCESS' | 'FAILURE';
/** A chain's `step`, a group's `member`, a chord's `header` or `body`. */
export type WorkflowRole = 'step' | 'member' | 'header' | 'body';

export interface WorkflowMember {
  taskId: string;
  name: string;
  position: number;
  role: WorkflowRole;
}

export interface NewWorkflow {
  id: string;
  kind: WorkflowKind;
  tasks: WorkflowMember[];
  owner?: string | null;
}

/** A workflow's failure: the first failed task's error, and that task. */
export interface WorkflowError extends TaskError {
  taskId: string;
}

export interface WorkflowRecord {
  id: string;
  kind: WorkflowKind;
  state: WorkflowState;
  result: unknown;
  error: WorkflowError | null;
  owner: string | null;
  createdAt: Date;
  finishedAt: Date | null;
  tasks: (WorkflowMember & { state: TaskState | null; result: unknown; error: TaskError | null })[];
}

/** How one of its tasks ended, as the worker recorded it. */
export interface MemberEnd {
  state: TaskState;
  result: unknown;
  error: TaskError | null;
}

/** What the worker does after a task's end was counted. */
export type WorkflowDecision =
  | { kind: 'none'; why: 'not-a-member' | 'already-final' | 'waiting' | 'body-published' }
  | { kind: 'finished'; state: 'SUCCESS' | 'FAILURE' }
  /**
   * Every header task succeeded: publish the chord's body with these results, then
   * `bodyPublished`. `again`: this end was counted before (a redelivered copy) and the body is
   * not marked sent: its first sender may have died before sending it, so it is sent again,
   * under the same task id, which the store runs once.
   */
  | { kind: 'publish-body'; results: unknown[]; again: boolean };

interface LockedWorkflow {
  kind: WorkflowKind;
  state: WorkflowState;
  size: number;
  completed: number;
  body_published: boolean;
}

interface OutcomeRow {
  task_id: string;
  state: TaskState | null;
  result: unknown;
  error_type: string | null;
  error_message: string | null;
}

export class WorkflowStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Records a workflow and its tasks, before any of them is published. */
  async create(workflow: NewWorkflow): Promise<void> {
    const counted = workflow.tasks.filter((t) => t.role !== 'body').length;
    const size = workflow.kind === 'chord' ? counted : workflow.tasks.length;
    const rows = workflow.tasks.map((t) => ({ task_id: t.taskId, position: t.position, role: t.role, name: t.name }));
    await this.#transaction(async (client) => {
      await client.query(INSERT_WORKFLOW, [workflow.id, workflow.kind, size, workflow.owner ?? null]);
      await client.query(INSERT_WORKFLOW_TASKS, [workflow.id, JSON.stringify(rows)]);
    });
  }

  /**
   * Counts the end of task `taskId` toward workflow `workflowId` and says what follows. Safe
   * to call again for the same task (a redelivered copy): it counts once, and a chord whose
   * body was due but not marked published is due again.
   */
  taskEnded(workflowId: string, taskId: string, end: MemberEnd): Promise<WorkflowDecision> {
    return this.#transaction(async (client) => {
      const { rows: locked } = await client.query<LockedWorkflow>(LOCK_WORKFLOW, [workflowId]);
      const workflow = locked[0];
      const { rows: members } = await client.query<{ role: WorkflowRole; position: number }>(SELECT_MEMBER, [workflowId, taskId]);
      const member = members[0];
      if (!workflow || !member) return { kind: 'none', why: 'not-a-member' };
      if (workflow.state !== 'PENDING') return { kind: 'none', why: 'already-final' };
      const failed = end.state !== 'SUCCESS';
      const finish = async (state: 'SUCCESS' | 'FAILURE', result: unknown, error: WorkflowError | null): Promise<WorkflowDecision> => {
        await client.query(FINISH_WORKFLOW, [workflowId, state, JSON.stringify(result ?? null), error?.type ?? null, error?.message ?? null, error?.taskId ?? null]);
        return { kind: 'finished', state };
      };
      const failure = (): WorkflowError => ({ type: end.error?.type ?? end.state, message: end.error?.message ?? `task ended ${end.state}`, taskId });
      if (member.role === 'step') {
        if (failed) return finish('FAILURE', null, failure());
        return member.position === workflow.size - 1 ? finish('SUCCESS', end.result, null) : { kind: 'none', why: 'waiting' };
      }
      if (member.role === 'body') return failed ? finish('FAILURE', null, failure()) : finish('SUCCESS', end.result, null);
      const marked = await client.query(MARK_COMPLETED, [workflowId, taskId]);
      let completed = workflow.completed;
      if (marked.rowCount === 1) completed = (await client.query<{ completed: number }>(COUNT_COMPLETION, [workflowId])).rows[0]!.completed;
      if (completed < workflow.size) return { kind: 'none', why: 'waiting' };
      const { rows: outcomes } = await client.query<OutcomeRow>(SELECT_COUNTED_OUTCOMES, [workflowId]);
      const firstFailed = outcomes.find((o) => o.state !== 'SUCCESS');
      if (firstFailed) {
        const error = { type: firstFailed.error_type ?? firstFailed.state ?? 'PENDING', message: firstFailed.error_message ?? `task ended ${firstFailed.state ?? 'unrecorded'}`, taskId: firstFailed.task_id };
        return finish('FAILURE', null, error);
      }
      const results = outcomes.map((o) => o.result);
      if (workflow.kind === 'group') return finish('SUCCESS', results, null);
      return workflow.body_published ? { kind: 'none', why: 'body-published' } : { kind: 'publish-body', results, again: marked.rowCount !== 1 };
    });
  }

  /** The chord's body was published (confirmed): later header copies do not publish it again. */
  async bodyPublished(workflowId: string): Promise<void> {
    await this.#query(MARK_BODY_PUBLISHED, [workflowId]);
  }

  /** Ends a workflow as failed (its tasks could not all be published); no-op when final. */
  async fail(workflowId: string, error: WorkflowError): Promise<void> {
    await this.#query(FINISH_WORKFLOW, [workflowId, 'FAILURE', 'null', error.type, error.message, error.taskId]);
  }

  async get(id: string): Promise<WorkflowRecord | undefined> {
    const { rows } = await this.#query<{
      id: string; kind: WorkflowKind; state: WorkflowState; result: unknown; error_type: string | null; error_message: string | null;
      error_task_id: string | null; owner: string | null; created_at: Date; finished_at: Date | null;
    }>(SELECT_WORKFLOW, [id]);
    const row = rows[0];
    if (!row) return undefined;
    const { rows: tasks } = await this.#query<OutcomeRow & { position: number; role: WorkflowRole; name: string }>(SELECT_WORKFLOW_TASKS, [id]);
    return {
      id: row.id,
      kind: row.kind,
      state: row.state,
      result: row.result,
      error: row.error_type !== null ? { type: row.error_type, message: row.error_message ?? '', taskId: row.error_task_id ?? '' } : null,
      owner: row.owner,
      createdAt: row.created_at,
      finishedAt: row.finished_at,
      tasks: tasks.map((t) => ({
        taskId: t.task_id,
        name: t.name,
        position: t.position,
        role: t.role,
        state: t.state,
        result: t.result,
        error: t.error_type !== null ? { type: t.error_type, message: t.error_message ?? '' } : null,
      })),
    };
  }

  /** The workflows task `taskId` belongs to (the dashboard links a task to them). */
  async ofTask(taskId: string): Promise<{ id: string; kind: WorkflowKind; state: WorkflowState; owner: string | null }[]> {
    const { rows } = await this.#query<{ id: string; kind: WorkflowKind; state: WorkflowState; owner: string | null }>(SELECT_WORKFLOWS_OF_TASK, [taskId]);
    return rows;
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw databaseUnavailable(err);
    }
  }

  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw databaseUnavailable(err);
    }
    try {
      await client.query('BEGIN');
      const value = await work(client);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (err instanceof CelerityError) throw err;
      throw databaseUnavailable(err);
    } finally {
      client.release();
    }
  }
}
