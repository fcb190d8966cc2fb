/**
 * Per-key concurrency in PostgreSQL (migration 11): the slots running tasks hold, leased and
 * renewed, and the tasks waiting for one. `withKey` runs one transaction under the key's lock
 * and hands the caller that key's statements; what to do with them (take a slot, park,
 * supersede, dispatch whom) is decided by the worker (worker/src/flow/). The rest are the
 * cross-key statements of the holder's renewal timer and of the sweep.
 */
import type pg from 'pg';
import {
  DELETE_DISPATCHED,
  DISPATCHABLE,
  DROP_WAITING,
  GIVE_SLOTS,
  KEYS_WAITING,
  LIVE_SLOTS,
  LOCK_FLOW_KEY,
  MARK_DISPATCHED,
  PARK_TASK,
  RELEASE_SLOT,
  RENEW_SLOTS,
  SWEEP_EXPIRED,
  TAKE_SLOT,
} from './flow-statements.js';

/** One key of one task type: what slots and waiting rows belong to. */
export interface FlowKey {
  taskName: string;
  flowKey: string;
}

/** A live slot of a key. */
export interface LiveSlot {
  taskId: string;
  holder: string;
  acquiredAt: Date;
}

/** A task message waiting for a slot, as it is published again. */
export interface WaitingTask {
  taskId: string;
  queue: string;
  content: Buffer;
  /** The publish options to send it with (JSON: properties and headers). */
  properties: Record<string, unknown>;
}

/** A waiting row picked for dispatch. */
export interface Dispatchable extends WaitingTask {
  seq: string;
}

/** The statements of one key, inside its locked transaction. */
export interface FlowKeyTx {
  /** The key's live slots, oldest first (expired ones are deleted on the way). */
  liveSlots(): Promise<LiveSlot[]>;
  /** Gives `taskId` a slot (or its own row back) for `expiresInMs`; its waiting row goes. */
  takeSlot(taskId: string, holder: string, expiresInMs: number): Promise<void>;
  park(task: WaitingTask): Promise<void>;
  releaseSlot(taskId: string): Promise<void>;
  /** The oldest waiting tasks that may be published now, at most `limit`. */
  dispatchable(limit: number): Promise<Dispatchable[]>;
  /** Slots for the tasks picked and their rows marked dispatched; returns the stamp DELETE_DISPATCHED needs. */
  dispatch(picked: readonly Dispatchable[], holder: string, expiresInMs: number): Promise<Date | undefined>;
  /** Deletes every waiting task of the key, returning them. */
  dropWaiting(): Promise<Array<{ taskId: string; queue: string }>>;
}

/** A slot this process holds and renews. */
export interface HeldSlot extends FlowKey {
  taskId: string;
}

export class FlowStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Runs `fn` in one transaction holding the key's lock (rolled back if it throws). */
  async withKey<T>(key: FlowKey, fn: (tx: FlowKeyTx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const { taskName, flowKey } = key;
    const tx: FlowKeyTx = {
      liveSlots: async () => {
        const { rows } = await client.query<{ task_id: string; holder: string; acquired_at: Date }>(LIVE_SLOTS, [taskName, flowKey]);
        return rows.map((r) => ({ taskId: r.task_id, holder: r.holder, acquiredAt: r.acquired_at }));
      },
      takeSlot: async (taskId, holder, expiresInMs) => {
        await client.query(TAKE_SLOT, [taskName, flowKey, taskId, holder, Math.round(expiresInMs)]);
      },
      park: async (task) => {
        await client.query(PARK_TASK, [taskName, flowKey, task.taskId, task.queue, task.content, JSON.stringify(task.properties)]);
      },
      releaseSlot: async (taskId) => {
        await client.query(RELEASE_SLOT, [taskName, flowKey, taskId]);
      },
      dispatchable: async (limit) => {
        if (limit <= 0) return [];
        const { rows } = await client.query<{ seq: string; task_id: string; queue: string; content: Buffer; properties: Record<string, unknown> }>(DISPATCHABLE, [
          taskName,
          flowKey,
          limit,
        ]);
        return rows.map((r) => ({ seq: r.seq, taskId: r.task_id, queue: r.queue, content: r.content, properties: r.properties }));
      },
      dispatch: async (picked, holder, expiresInMs) => {
        if (picked.length === 0) return undefined;
        await client.query(GIVE_SLOTS, [taskName, flowKey, picked.map((p) => p.taskId), holder, Math.round(expiresInMs)]);
        const { rows } = await client.query<{ dispatched_at: Date }>(MARK_DISPATCHED, [picked.map((p) => p.seq)]);
        return rows[0]?.dispatched_at;
      },
      dropWaiting: async () => {
        const { rows } = await client.query<{ task_id: string; queue: string }>(DROP_WAITING, [taskName, flowKey]);
        return rows.map((r) => ({ taskId: r.task_id, queue: r.queue }));
      },
    };
    try {
      await client.query('BEGIN');
      await client.query(LOCK_FLOW_KEY, [taskName, flowKey]);
      const result = await fn(tx);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      // A connection whose ROLLBACK failed may be broken: not reused.
      client.release(err instanceof Error ? err : true);
      throw err;
    }
  }

  /** Deletes a dispatched task's waiting row once its publish is confirmed (`stamp`: from `dispatch`). */
  async deleteDispatched(seq: string, stamp: Date): Promise<void> {
    await this.pool.query(DELETE_DISPATCHED, [seq, stamp]);
  }

  /** Renews `slots` for `expiresInMs`; returns the task ids still held (a slot missing was swept as expired). */
  async renew(slots: readonly HeldSlot[], holder: string, expiresInMs: number): Promise<Set<string>> {
    if (slots.length === 0) return new Set();
    const { rows } = await this.pool.query<{ task_id: string }>(RENEW_SLOTS, [
      slots.map((s) => s.taskName),
      slots.map((s) => s.flowKey),
      slots.map((s) => s.taskId),
      holder,
      Math.round(expiresInMs),
    ]);
    return new Set(rows.map((r) => r.task_id));
  }

  /** Deletes the expired slots of `taskNames`; returns the keys that got room. */
  async sweepExpired(taskNames: readonly string[]): Promise<FlowKey[]> {
    const { rows } = await this.pool.query<{ task_name: string; flow_key: string }>(SWEEP_EXPIRED, [taskNames]);
    return rows.map((r) => ({ taskName: r.task_name, flowKey: r.flow_key }));
  }

  /** Keys of `taskNames` with tasks that may be dispatched, with their live slots, at most `max`. */
  async keysWaiting(taskNames: readonly string[], max: number): Promise<Array<FlowKey & { live: number }>> {
    const { rows } = await this.pool.query<{ task_name: string; flow_key: string; live: number }>(KEYS_WAITING, [taskNames, max]);
    return rows.map((r) => ({ taskName: r.task_name, flowKey: r.flow_key, live: r.live }));
  }
}
