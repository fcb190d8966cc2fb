/**
 * The task state machine and the task representation of the HTTP API.
 *
 *   PENDING ─► RECEIVED ─► STARTED ─► SUCCESS | FAILURE
 *                             │  ▲
 *                             ▼  │ (next attempt)
 *                            RETRY
 *   any non-final state ─► REVOKED
 *
 * Writes can arrive out of order (the gateway's PENDING row and the worker's SUCCESS race),
 * so every write carries an order and the store keeps the highest one: a late PENDING
 * never overwrites SUCCESS. Final states outrank everything; among the rest, a later
 * attempt (more retries) outranks an earlier one.
 */

export const TASK_STATES = ['PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const FINAL_STATES: ReadonlySet<TaskState> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

export function isFinalState(state: TaskState): boolean {
  return FINAL_STATES.has(state);
}

/**
 * The rank of each state within one attempt: the one home of the state order. The store's SQL
 * function celerity_state_order (migration 1) repeats it; test/integration/state-order.test.ts
 * checks the two agree for every state.
 */
const STATE_RANK: Readonly<Record<TaskState, number>> = {
  PENDING: 0,
  RECEIVED: 1,
  STARTED: 2,
  RETRY: 3,
  SUCCESS: 4,
  FAILURE: 4,
  REVOKED: 4,
};

/** Attempts are this far apart in the order, so that every rank of an attempt fits between them. */
const ATTEMPT_STRIDE = 8;

/**
 * The order of a state write: the store keeps the write with the highest. Final states outrank
 * everything; otherwise a later attempt (more retries) outranks an earlier one, and within an
 * attempt the rank above decides.
 */
export function stateOrder(state: TaskState, retries: number): number {
  return isFinalState(state) ? Number.MAX_SAFE_INTEGER : retries * ATTEMPT_STRIDE + STATE_RANK[state];
}

export function isTaskState(value: unknown): value is TaskState {
  return typeof value === 'string' && (TASK_STATES as readonly string[]).includes(value);
}

export interface TaskError {
  type: string;
  message: string;
}

/**
 * A task as the store holds it and every layer passes it around (the domain shape): dates as
 * Date, the error as one object. The store's rows (store/task-rows.ts) and the API's
 * representation (below) are mapped from and to it.
 */
export interface TaskRecord {
  id: string;
  name: string;
  queue: string;
  state: TaskState;
  args: unknown[];
  kwargs: Record<string, unknown>;
  result?: unknown;
  error?: TaskError | null;
  retries: number;
  createdAt: Date;
  startedAt?: Date | null;
  finishedAt?: Date | null;
  worker?: string | null;
  /** How many times a worker started the task (retries and redeliveries included). */
  attempts?: number;
  /** Starts of the current message; compared with the worker's delivery limit. */
  deliveries?: number;
  /** The API key that submitted the task (never shown in the representation). */
  owner?: string | null;
  /** Until when the worker running it (STARTED) holds it; see the worker's lease. */
  leaseExpiresAt?: Date | null;
  /** Which delivery holds the lease (`<worker>/<token>`); a worker's writes carry their own. */
  leaseHolder?: string | null;
}

/**
 * One state write to the store: identity and state required, every other field optional, and a
 * field left out keeps what the store already has. Derived from TaskRecord (one set of fields);
 * its own name because writes are partial and merge (store/task-writes.ts) while a record is whole.
 */
export type TaskWrite = Pick<TaskRecord, 'id' | 'name' | 'queue' | 'state'> & Partial<Omit<TaskRecord, 'id' | 'name' | 'queue' | 'state'>>;

/**
 * A task as the HTTP API (and the Node client) shows it: JSON-ready (ISO dates, nulls rather
 * than absent fields) and without what is internal (owner, lease, deliveries). Its own shape
 * because it is the public contract, which must not follow the store's columns.
 */
export interface TaskRepresentation {
  id: string;
  name: string;
  queue: string;
  state: TaskState;
  args: unknown[];
  kwargs: Record<string, unknown>;
  result: unknown;
  error: TaskError | null;
  retries: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  worker: string | null;
  /** How many times a worker started the task (retries and redeliveries included). */
  attempts: number;
}

export function toRepresentation(task: TaskRecord): TaskRepresentation {
  return {
    id: task.id,
    name: task.name,
    queue: task.queue,
    state: task.state,
    args: task.args,
    kwargs: task.kwargs,
    result: task.result ?? null,
    error: task.error ?? null,
    retries: task.retries,
    createdAt: task.createdAt.toISOString(),
    startedAt: task.startedAt ? task.startedAt.toISOString() : null,
    finishedAt: task.finishedAt ? task.finishedAt.toISOString() : null,
    worker: task.worker ?? null,
    attempts: task.attempts ?? 0,
  };
}
