/**
 * Revokes on one worker: its view of revoked ids (a RevokedSet), the tasks it runs now (to
 * terminate them), the broadcast it listens to, and the durable revoke it makes itself
 * (`Worker.revoke`, which Celery's remote control calls too). Every revoke, from anywhere,
 * reaches a worker by one of three roads, and all three end in `#apply`:
 *
 * - the claim (store): a revoked id never starts, whether this worker heard of it or not;
 * - the broadcast (`celerity.revoke`): running workers hear at once;
 * - a reload of the recent revokes from the store each time the listener (re)subscribes, for
 *   what was broadcast while this worker was disconnected (a `terminate` among them stops a
 *   task still running here).
 */
import type pg from 'pg';
import type { Logger } from '../../../shared/src/core/index.js';
import type { KnownTask } from '../../../shared/src/store/index.js';
import { RevokeListener, type Broker, type RevokeNotice } from '../../../shared/src/broker/index.js';
import { Revoker, type RevokeOptions, type RevokeOutcome } from '../../../shared/src/submit/index.js';
import { RevokedSet, type RevokedSetOptions } from './revoked-set.js';

/** What the task runner sees of revokes. */
export interface RevocationsView {
  /** Whether `id` is known here as revoked (the store's claim is the authority; this is the fast view). */
  isRevoked(id: string): boolean;
  /** A claimed run of `id`: the signal fires when a revoke asks to terminate it; call `release` when it ends. */
  track(id: string): { signal: AbortSignal; release: () => void };
}

export interface WorkerRevocationsOptions extends RevokedSetOptions {
  logger: Logger;
  workerName: string;
  /** Counts each revoke this worker applied (`celerity_worker_revokes_total{terminate}`). */
  onApplied?: (terminate: boolean) => void;
}

/** How far back a reload after a reconnect reaches before the previous load, in ms (clock skew between hosts). */
const RELOAD_MARGIN_MS = 5 * 60_000;

export class WorkerRevocations implements RevocationsView {
  readonly #set: RevokedSet;
  readonly #running = new Map<string, Set<AbortController>>();
  readonly #options: WorkerRevocationsOptions;
  #revoker: Revoker | undefined;
  #listener: RevokeListener | undefined;
  #lastLoadAt: number | undefined;
  #loading: Promise<void> = Promise.resolve();

  private constructor(options: WorkerRevocationsOptions) {
    this.#options = options;
    this.#set = new RevokedSet(options);
  }

  static async create(broker: Broker, pool: pg.Pool, options: WorkerRevocationsOptions): Promise<WorkerRevocations> {
    const self = new WorkerRevocations(options);
    try {
      self.#revoker = await Revoker.create(broker, pool, options.logger, options.workerName);
      self.#listener = await RevokeListener.create(broker, {
        logger: options.logger,
        onNotice: (notice) => self.#onNotice(notice),
        onReady: () => self.#reload(),
      });
      await self.#loading;
      return self;
    } catch (err) {
      await self.close();
      throw err;
    }
  }

  isRevoked(id: string): boolean {
    return this.#set.has(id);
  }

  track(id: string): { signal: AbortSignal; release: () => void } {
    const controller = new AbortController();
    let runs = this.#running.get(id);
    if (!runs) this.#running.set(id, (runs = new Set()));
    runs.add(controller);
    const release = (): void => {
      runs.delete(controller);
      if (runs.size === 0 && this.#running.get(id) === runs) this.#running.delete(id);
    };
    return { signal: controller.signal, release };
  }

  /** Ids revoked known here now (tests, diagnostics). */
  get size(): number {
    return this.#set.size;
  }

  /** Durable first (the store), then applied here, then broadcast to the other workers. */
  async revoke(ids: readonly string[], options: RevokeOptions & { known?: readonly KnownTask[] } = {}): Promise<RevokeOutcome> {
    if (!this.#revoker) throw new Error('revocations are closed');
    const outcome = await this.#revoker.revoke(ids, options);
    this.#apply(outcome.results.map((r) => r.id), options.terminate ?? false, 'here', options.reason);
    return outcome;
  }

  /** Safe to call twice. */
  async close(): Promise<void> {
    await this.#listener?.close();
    await this.#revoker?.close();
  }

  #onNotice(notice: RevokeNotice): void {
    // Our own notice: applied already by `revoke`.
    if (notice.origin === this.#options.workerName) return;
    this.#apply(notice.ids, notice.terminate, 'broadcast', notice.reason);
  }

  /** Loads the revokes made since the last load (with a margin), or within the set's ttl at start. */
  #reload(): void {
    const startedAt = Date.now();
    const since = this.#lastLoadAt === undefined ? startedAt - this.#set.ttlMs : this.#lastLoadAt - RELOAD_MARGIN_MS;
    const store = this.#revoker?.store;
    if (!store) return;
    this.#loading = store
      .recent(new Date(since), this.#set.maxEntries)
      .then((revocations) => {
        this.#lastLoadAt = startedAt;
        // Oldest first, so the set's eviction keeps the newest.
        const plain = revocations.filter((r) => !r.terminate).map((r) => r.id).reverse();
        const terminate = revocations.filter((r) => r.terminate).map((r) => r.id).reverse();
        if (plain.length > 0) this.#apply(plain, false, 'store');
        if (terminate.length > 0) this.#apply(terminate, true, 'store');
      })
      .catch((err: unknown) => {
        // The claim still refuses every revoked id; only a terminate missed meanwhile waits for the next reconnect.
        this.#options.logger.warn('could not load the recent revokes from the store', { err });
      });
  }

  #apply(ids: readonly string[], terminate: boolean, via: 'here' | 'broadcast' | 'store', reason?: string): void {
    for (const id of ids) {
      const known = this.#set.has(id);
      this.#set.add(id);
      const runs = this.#running.get(id);
      const stopping = terminate && runs !== undefined && runs.size > 0;
      if (stopping) for (const run of runs) run.abort(new Error(`Task ${id} was terminated by a revoke${reason ? `: ${reason}` : ''}`));
      if (stopping || (!known && via !== 'store')) {
        this.#options.logger.info(stopping ? 'revoke: terminating the task running here' : 'revoke heard', { taskId: id, terminate, via, outcome: 'revoked' });
      }
      if (!known) this.#options.onApplied?.(terminate);
    }
  }
}
