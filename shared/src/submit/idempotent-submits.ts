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
 *
 * A dedupe key (`options.dedupe`) goes through the same claim, publish and confirm, with the
 * rule of dedupe.ts instead of the fingerprint: its `startDedupe` answers `publish` (the new
 * task, perhaps replacing a debounced one) or `deduplicated` (the held task, once confirmed).
 * A dedupe claim whose publish fails is released, so the next submit with the key claims it.
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
import { decideDedupe, type DedupeDecision, type DedupeOption, UNCONFIRMED_TAKEOVER_MS } from './dedupe.js';
import { identify, type Submission } from './submission.js';

/** How often another process's unconfirmed dedupe claim is read again, in ms (doubling up to the max). */
const DEDUPE_POLL_MS = { min: 10, max: 250 };

export type IdempotentStart =
  /** Publish `submission` through `publish()`; `replayed` when it re-publishes an earlier claim's task. */
  | { kind: 'publish'; submission: Submission; replayed: boolean }
  /** The key's task was published and confirmed: answer with task `taskId`. */
  | { kind: 'replay'; taskId: string };

export type DedupeStart =
  /** Publish `submission` (it holds the key now); revoke `replaced`, a debounced task it replaces. */
  | { kind: 'publish'; submission: Submission; replaced?: string }
  /** The key's task was published and confirmed, and counts for this submit: answer with it. */
  | { kind: 'deduplicated'; taskId: string };

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
   * Decides a submit with dedupe key `key` (the row key, dedupe.ts) by `dedupe`'s rule: takes
   * the key for `submission`, or answers with the task that holds it once its publish is
   * confirmed (waiting for this process's publish, or polling another's, see dedupe.ts).
   */
  async startDedupe(key: string, dedupe: DedupeOption, submission: Submission): Promise<DedupeStart> {
    const windowMs = (dedupe.windowS ?? 0) * 1000;
    const claim = { taskId: submission.id, fingerprint: submission.fingerprint, mode: dedupe.mode, ...(submission.eta ? { runAt: submission.eta } : {}) };
    for (let pollMs = DEDUPE_POLL_MS.min; ; pollMs = Math.min(pollMs * 2, DEDUPE_POLL_MS.max)) {
      const decision: DedupeDecision = (await this.keys.claimDedupe(key, claim, (held, now) => decideDedupe(dedupe.mode, windowMs, held, now), (d) => d.kind !== 'held')) ?? { kind: 'claim' };
      if (decision.kind === 'claim') return { kind: 'publish', submission };
      if (decision.kind === 'replace') return { kind: 'publish', submission, replaced: decision.replaced };
      if (!decision.unconfirmed) return { kind: 'deduplicated', taskId: decision.taskId };
      // This process is publishing the held task: its outcome decides (a failed one freed the key).
      const first = this.#inFlight.get(key);
      if (first) {
        if (await first) return { kind: 'deduplicated', taskId: decision.taskId };
        continue;
      }
      // Another process is: read again until it confirms, frees the key, or is past
      // UNCONFIRMED_TAKEOVER_MS (dedupe.ts), when the rule takes the key from it.
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, UNCONFIRMED_TAKEOVER_MS)));
    }
  }

  /**
   * Runs `publish` (the submitter's) for a submission `start()` said to publish; once it is
   * confirmed, marks the key confirmed. A failed mark leaves the key unconfirmed, which costs
   * one duplicate publish on the next retry with the key, never a lost task: it is logged, and
   * the caller still gets its answer.
   */
  async publish(key: string, submission: Submission, publish: () => Promise<void>): Promise<void> {
    const run = (async () => {
      try {
        await publish();
      } catch (err) {
        // A dedupe claim holds its key for others only while its publish may still be confirmed.
        if (submission.dedupe) {
          await this.keys.releaseDedupe(key, submission.id).catch((releaseErr: unknown) => {
            this.logger.warn('could not free the dedupe key of a failed publish; it is taken over after its claim grows old', { taskId: submission.id, err: releaseErr });
          });
        }
        throw err;
      }
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
