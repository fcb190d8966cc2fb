/**
 * Deletes finished task rows (SUCCESS, FAILURE, REVOKED) older than the retention period, every few
 * minutes, in small batches; a task still waiting (countdown, eta, retry) is never deleted. Idempotency
 * keys go with them (a key cannot outlive the task it returns), and so do the revocations of final
 * tasks (their rows refuse a claim by themselves; a revocation without a row is kept). The rows
 * of rate-limit keys idle for as long go too (worker/src/flow/rate-store.ts).
 */
import type { IdempotencyKeys, RevocationStore, TaskStore } from '../../shared/src/store/index.js';
import type { Logger } from '../../shared/src/core/index.js';
import type { RateStore } from './flow/rate-store.js';

export class RetentionSweeper {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    private readonly store: TaskStore,
    private readonly retentionMs: number,
    private readonly logger: Logger,
    private readonly idempotency?: IdempotencyKeys,
    private readonly revocations?: Pick<RevocationStore, 'deleteExpired'>,
    private readonly rates?: Pick<RateStore, 'deleteIdle'>,
  ) {}

  /** @param everyMs sweep interval in ms. @default 600000 (10 minutes) */
  start(everyMs = 600_000): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.sweep(), everyMs);
    this.#timer.unref();
  }

  /** One sweep; reports to the logger and never throws. */
  sweep(): Promise<void> {
    this.#running ??= (async () => {
      try {
        const cutoff = new Date(Date.now() - this.retentionMs);
        // Before the tasks: a revocation is deleted only while its final row is there to say so.
        const revocations = (await this.revocations?.deleteExpired(cutoff)) ?? 0;
        const deleted = await this.store.deleteExpired(cutoff);
        const keys = (await this.idempotency?.deleteExpired(cutoff)) ?? 0;
        const rateKeys = (await this.rates?.deleteIdle(cutoff)) ?? 0;
        if (deleted > 0 || keys > 0 || revocations > 0 || rateKeys > 0) this.logger.info('retention sweep deleted old tasks', { deleted, idempotencyKeys: keys, revocations, rateKeys });
      } catch (err) {
        this.logger.warn('retention sweep failed; will try again', { err });
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
