/**
 * Submits with an idempotency key: claim the key, publish, and mark the key confirmed once the
 * broker confirmed (store/idempotency.ts holds the rules). The answer a repeated submit gets:
 *
 *   key free                      → `publish` the new task (then confirm the key)
 *   key held, other content       → IDEMPOTENCY_KEY_REUSED
 *   key held, confirmed           → `replay` the held task (nothing is published)
 *   key held, not confirmed       → if this process is still publishing it, wait for that
 *                                   publish: confirmed → `replay`; else, or when another
 *                                   process claimed it, `publish` the held task id again
 *                                   (a re-publish, which a worker de-duplicates)
 *
 * So a `replay` is only ever answered for a key whose publish the broker confirmed.
 * `submit-flow.ts` runs these steps for every submit with a key (gateway and Node client).
 */

/** Idempotency keys: printable ASCII, as the IETF draft and Stripe allow, 1–255 characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Whether `key` may be an idempotency key (the `Idempotency-Key` header, the client's `idempotencyKey`). */
export function isValidIdempotencyKey(key: unknown): key is string {
  return typeof key === 'string' && IDEMPOTENCY_KEY.test(key);
}
import { CelerityError } from '../core/index.js';
import type { IdempotencyKeys } from '../store/index.js';
import type { Logger } from '../core/index.js';
import { identify, type Submission } from './submission.js';

export type IdempotentStart =
  /** Publish `submission` through `publish()`; `replayed` when it re-publishes an earlier claim's task. */
  | { kind: 'publish'; submission: Submission; replayed: boolean }
  /** The key's task was published and confirmed: answer with task `taskId`. */
  | { kind: 'replay'; taskId: string };

export class IdempotentSubmits {
  /** Publishes in flight in this process, by key: resolve true once confirmed (and the key marked). */
  readonly #inFlight = new Map<string, Promise<boolean>>();

  constructor(
    private readonly keys: IdempotencyKeys,
    private readonly logger: Logger,
  ) {}

  /** Claims `key` for `submission`, or decides how to answer for the task that holds it. */
  async start(key: string, submission: Submission): Promise<IdempotentStart> {
    const claim = await this.keys.claim(key, submission.id, submission.fingerprint);
    if (claim.claimed) return { kind: 'publish', submission, replayed: false };
    if (!claim.sameContent) {
      throw new CelerityError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used for a different request within its window');
    }
    if (!claim.unconfirmed) return { kind: 'replay', taskId: claim.taskId };
    const first = this.#inFlight.get(key);
    if (first && (await first)) return { kind: 'replay', taskId: claim.taskId };
    return { kind: 'publish', submission: { ...identify(submission, claim.taskId), republish: true }, replayed: true };
  }

  /**
   * Runs `publish` (the submitter's) for a submission `start()` said to publish; once it is
   * confirmed, marks the key confirmed. A failed mark leaves the key unconfirmed, which costs
   * one duplicate publish on the next retry with the key, never a lost task: it is logged, and
   * the caller still gets its answer.
   */
  async publish(key: string, submission: Submission, publish: () => Promise<void>): Promise<void> {
    const run = (async () => {
      await publish();
      await this.keys.confirm(key, submission.id).catch((err: unknown) => {
        this.logger.warn('could not mark the idempotency key confirmed; a retry with it will publish the task again', { taskId: submission.id, err });
      });
    })();
    const confirmed = run.then(
      () => true,
      () => false,
    );
    this.#inFlight.set(key, confirmed);
    try {
      await run;
    } finally {
      if (this.#inFlight.get(key) === confirmed) this.#inFlight.delete(key);
    }
  }
}
