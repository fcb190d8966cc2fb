/**
 * A revoke from anywhere (the gateway, the Node client, `celerity control revoke`, a worker):
 * first durable, then broadcast. The revocation and the REVOKED end of every task not started
 * are committed in PostgreSQL (store/revocations.ts), so no worker will start the task, also
 * one that is down or disconnected now; then running workers are told on `celerity.revoke`,
 * so a `terminate` reaches the one running it at once. A failed broadcast does not undo the
 * revoke: it is logged, and a worker reloads recent revokes whenever it (re)connects.
 */
import type pg from 'pg';
import { isFinalState, type Logger, type TaskRecord } from '../core/index.js';
import { RevokeBroadcaster, type Broker } from '../broker/index.js';
import { RevocationStore, type KnownTask, type RevokeRecord, type RevokeResult } from '../store/index.js';

export interface RevokeOptions {
  /** Also stop the task where it runs now: its `ctx.signal` fires, a CPU task's thread is stopped. @default false */
  terminate?: boolean;
  /** Stored with the revoke and as the task's error message. @default 'revoked' (or 'terminated') */
  reason?: string;
}

export interface RevokeOutcome {
  results: RevokeResult[];
  /** Whether running workers were told (false: only the durable record holds, see the module comment). */
  broadcast: boolean;
}

export class Revoker {
  private constructor(
    readonly store: RevocationStore,
    private readonly broadcaster: RevokeBroadcaster,
    private readonly logger: Logger,
    /** Who revokes, as notices and log lines name it. */
    private readonly origin: string,
  ) {}

  static async create(broker: Broker, pool: pg.Pool, logger: Logger, origin: string): Promise<Revoker> {
    return new Revoker(new RevocationStore(pool), await RevokeBroadcaster.create(broker, logger), logger, origin);
  }

  /**
   * Revokes `ids` (idempotent). `by`: who asked (an API key's id), stored with the revoke;
   * `known`: tasks the caller knows by name whose rows may not be written yet. Rejects when the
   * database is away (nothing was revoked); a broadcast failure only logs.
   */
  async revoke(ids: readonly string[], options: RevokeOptions & { by?: string; known?: readonly KnownTask[] } = {}): Promise<RevokeOutcome> {
    const terminate = options.terminate ?? false;
    const reason = options.reason ?? (terminate ? 'terminated' : 'revoked');
    const record: RevokeRecord = { terminate, reason, by: options.by ?? this.origin };
    const results = await this.store.revoke(ids, record, options.known ?? []);
    for (const r of results) {
      this.logger.info('task revoked', { taskId: r.id, terminate: r.terminate, repeated: !r.created, state: r.task?.state ?? null, by: record.by, outcome: 'revoked' });
    }
    let broadcast = true;
    try {
      await this.broadcaster.send({ ids: results.map((r) => r.id), terminate, reason, origin: this.origin });
    } catch (err) {
      broadcast = false;
      this.logger.warn('revoke recorded, but running workers could not be told now; they pick it up when they reconnect, and no worker starts the task', { ids: results.map((r) => r.id), err });
    }
    return { results, broadcast };
  }

  /** Safe to call twice. */
  async close(): Promise<void> {
    await this.broadcaster.close();
  }
}

/** What `revokeTask` needs: reads through the task ledger (the gateway's and the client's ClientCore). */
export interface RevokeTaskDeps {
  read: (id: string) => Promise<TaskRecord | undefined>;
  revoker: Pick<Revoker, 'revoke'>;
}

/**
 * Revokes one task the caller may see (`visible`, checked on the task as read: an API key's
 * own tasks, or all for an admin) and answers with the task afterwards; undefined when there is
 * no such task for this caller (a 404, as for reads). A finished task is answered as it is:
 * nothing is recorded, its final state stays.
 */
export async function revokeTask(
  deps: RevokeTaskDeps,
  id: string,
  options: RevokeOptions & { by?: string; visible?: (task: TaskRecord) => boolean } = {},
): Promise<TaskRecord | undefined> {
  const task = await deps.read(id);
  if (!task || (options.visible && !options.visible(task))) return undefined;
  if (isFinalState(task.state)) return task;
  const { visible: _visible, ...revoke } = options;
  const { results } = await deps.revoker.revoke([id], { ...revoke, known: [{ id, name: task.name, queue: task.queue, owner: task.owner ?? null }] });
  return (await deps.read(id)) ?? results[0]?.task ?? task;
}
