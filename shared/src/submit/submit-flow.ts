/**
 * One submit, from a validated submission to its answer: the idempotency flow when a key is
 * given (idempotent-submits.ts decides claim, re-publish or replay), the publish, and for a
 * wait the race between the task's reply and the broker's confirm, held in the task ledger
 * (task-ledger.ts), which also decides the PENDING row. The gateway's submit route (which only
 * speaks HTTP around it) and the Node client both call it through `ClientCore.submit`.
 * A submission with `dedupe` goes through the same key flow under its dedupe key (dedupe.ts):
 * it publishes a new task, or answers with the held one (`deduplicated`); a debounce that
 * replaces a waiting task revokes that task first, through the revoke path.
 */
import { CelerityError, isFinalState, type TaskRecord } from '../core/index.js';
import { dedupeRowKey, type DedupeOption } from './dedupe.js';
import type { IdempotentSubmits } from './idempotent-submits.js';
import { REPLY_GRACE_MS, type Finished, type WaitSignal } from './ledger-waits.js';
import { identify, pendingRecord, resultModeOfSubmission, type Submission } from './submission.js';
import type { Revoker } from './revoker.js';
import type { Submitter } from './submitter.js';
import type { TaskLedger } from './task-ledger.js';

/** How to submit, beyond the submission itself. */
export interface SubmitCall {
  /**
   * Idempotency key, already checked against the key rule. Keys are per owner: with
   * `submission.owner` set, another owner's "k1" neither replays nor reveals this one's task.
   */
  idempotencyKey?: string;
  /** Ask for a reply even when not waiting (the Node client's `result()` may come later). @default false */
  wantReply?: boolean;
  /** Wait up to this long for the task to finish, in ms; 0 answers once the broker confirmed. @default 0 */
  waitMs?: number;
  /** The caller went away: stop waiting (an AbortSignal, or the gateway's lighter per-request signal). */
  signal?: WaitSignal;
  /**
   * For a replayed key: answer with the task as it is now (for a caller that may read tasks);
   * otherwise with what the first submit got, the PENDING representation. @default false
   */
  readReplay?: boolean;
}

/** What a submit got. */
export interface SubmitAnswer {
  /** The task's id: the new task's, or for a replayed key the task that key first created. */
  id: string;
  /** An earlier submit with the same key answers (its task published again, or, once confirmed, not at all). */
  replayed: boolean;
  /** `options.dedupe` returned an earlier task with its key: nothing was published. */
  deduplicated: boolean;
  /** A debounce's new task replaced this waiting one, which was revoked. */
  replaced?: string;
  /** This call published the task (false only for a replay of a key whose publish was confirmed). */
  published: boolean;
  /** The task as known when answering; its final record when `finished`. */
  task: TaskRecord;
  /** The task reached a final state within `waitMs`. */
  finished: boolean;
  /** `signal` fired before the task finished: nobody is left to answer. */
  abandoned: boolean;
}

/** The parts of the submit path a submit uses (ClientCore has them all). */
export interface SubmitParts {
  submitter: Pick<Submitter, 'submit'>;
  idempotency: IdempotentSubmits;
  /** Waits, reads (never an earlier state than an answer here) and the PENDING rule. */
  ledger: Pick<TaskLedger, 'start' | 'wait' | 'read' | 'answer' | 'recordPending' | 'pendingAtPublish'>;
  /** Revokes the task a debounce replaces; without it, debounce submits are refused. */
  revoker?: Pick<Revoker, 'revoke'> | undefined;
}

const finalOf = (finished: Finished): boolean => isFinalState(finished.kind === 'record' ? finished.record.state : finished.outcome.state);
const noFinal = (): undefined => undefined;
const finalOnly = (finished: Finished | undefined): Finished | undefined => (finished && finalOf(finished) ? finished : undefined);

/** Submits `submission` as `call` says; rejects with the submitter's or the key flow's CelerityError. */
export async function submitTask(parts: SubmitParts, submission: Submission, call: SubmitCall = {}): Promise<SubmitAnswer> {
  const { idempotencyKey } = call;
  if (submission.dedupe) {
    if (idempotencyKey !== undefined) throw new CelerityError('INVALID_DEDUPE', 'Give an Idempotency-Key or options.dedupe, not both');
    return dedupeSubmit(parts, submission, submission.dedupe, call);
  }
  if (idempotencyKey === undefined) return publishAndWait(parts, submission, call, false, (send) => send());
  const key = submission.owner ? `${submission.owner}:${idempotencyKey}` : idempotencyKey;
  // Claimed before publishing, so two concurrent submits with one key create one task; a claim
  // whose publish was never confirmed is published again (see idempotent-submits.ts).
  const start = await parts.idempotency.start(key, submission);
  if (start.kind === 'replay') return replay(parts, identify(submission, start.taskId), call);
  return publishAndWait(parts, start.submission, call, start.replayed, (send) => parts.idempotency.publish(key, start.submission, send));
}

/**
 * Publishes (through `wrap`, the key flow's confirm marking when there is a key) and, for a
 * wait, waits for the end. The waiter is registered before publishing: the reply can arrive
 * before the publisher confirm does.
 */
async function publishAndWait(
  parts: SubmitParts,
  submission: Submission,
  call: SubmitCall,
  replayed: boolean,
  wrap: (send: () => Promise<void>) => Promise<void>,
): Promise<SubmitAnswer> {
  const waitMs = call.waitMs ?? 0;
  // A waited submit writes no PENDING row up front (the ledger's rule, TaskLedger.recordPending).
  const send = (): Promise<void> => parts.submitter.submit(submission, { wantReply: waitMs > 0 || call.wantReply === true, recordPending: parts.ledger.pendingAtPublish(waitMs) });
  const answer = (task: TaskRecord, finished: boolean, abandoned = false): SubmitAnswer => ({ id: submission.id, replayed, deduplicated: false, published: true, task, finished, abandoned });
  if (waitMs === 0) {
    await wrap(send);
    return answer(pendingRecord(submission), false);
  }
  // Ended by the caller's signal, or by us when the publish fails: no AbortSignal.any here,
  // which would cost a signal, its listeners and weak references per held request.
  // Result mode `none`: no row will ever answer a store poll, so the wait only listens for the reply.
  const pollAfterMs = resultModeOfSubmission(submission) === 'none' ? waitMs : REPLY_GRACE_MS;
  const wait = parts.ledger.start(submission.id, { timeoutMs: waitMs, pollAfterMs, ...(call.signal ? { signal: call.signal } : {}) });
  const waiting = wait.finished;
  const submitted = wrap(send);
  // A final reply proves the task ran (its worker commits the result right after replying), so
  // it need not wait for the confirm too: RabbitMQ confirms a persistent message once it is on
  // disk or consumed *and acked*, and the worker acks after its commit, so the confirm mostly
  // comes last.
  const early = await Promise.race([submitted.then(noFinal, noFinal), waiting.then(finalOnly)]);
  // submit() logs its own failure; the task ran regardless.
  if (early) submitted.catch(() => undefined);
  else {
    try {
      await submitted;
    } catch (err) {
      wait.cancel(); // nothing will ever answer the waiter we registered
      await waiting;
      throw err;
    }
  }
  const finished = early ?? (await waiting);
  if (finished && finalOf(finished)) return answer(parts.ledger.answer(submission, finished), true);
  // A 202 promises that GET finds the task: its PENDING row first.
  await parts.ledger.recordPending(submission);
  return answer(pendingRecord(submission), false, call.signal?.aborted === true);
}

/**
 * A repeated submit with a key whose publish was confirmed: the task the key first created, as
 * it is now (waited for like a read with a wait, when asked). The store may not have its row
 * yet (the PENDING write is best-effort). Without `readReplay`, what the first submit got: the
 * PENDING representation, never the task's result or error.
 */
async function replay(parts: SubmitParts, held: Submission, call: SubmitCall): Promise<SubmitAnswer> {
  const answer = (task: TaskRecord, abandoned = false): SubmitAnswer => ({ id: held.id, replayed: true, deduplicated: false, published: false, task, finished: isFinalState(task.state), abandoned });
  const stored = await parts.ledger.read(held.id);
  // The first submit may be a ?wait= still waiting, which writes no PENDING row until it answers
  // 202: a replay's answer promises that GET finds the task, so the row is written first.
  if (!stored) await parts.ledger.recordPending(held);
  if (!call.readReplay) return answer(pendingRecord(held));
  const waitMs = call.waitMs ?? 0;
  let task = stored ?? pendingRecord(held);
  if (waitMs > 0 && !isFinalState(task.state)) {
    const finished = await parts.ledger.wait(held.id, { timeoutMs: waitMs, pollAfterMs: 0, ...(call.signal ? { signal: call.signal } : {}) });
    if (call.signal?.aborted) return answer(task, true);
    task = finished?.kind === 'record' ? finished.record : ((await parts.ledger.read(held.id)) ?? task);
  }
  return answer(task);
}

/**
 * A submit with `options.dedupe`: its key (per task name and owner) is claimed, or the task
 * holding it answers (idempotent-submits.ts, dedupe.ts). A debounce that replaces a waiting task
 * revokes it before publishing the new one, so a burst never runs twice when the publish fails.
 */
async function dedupeSubmit(parts: SubmitParts, submission: Submission, dedupe: DedupeOption, call: SubmitCall): Promise<SubmitAnswer> {
  const { revoker } = parts;
  if (dedupe.mode === 'debounce' && !revoker) throw new CelerityError('OPTION_NOT_SUPPORTED', 'A debounce revokes the task it replaces, and this submitter has no revoker');
  const key = dedupeRowKey(submission.name, submission.owner, dedupe.key);
  const start = await parts.idempotency.startDedupe(key, dedupe, submission);
  if (start.kind === 'deduplicated') return deduplicated(parts, submission, start.taskId, call);
  if (start.replaced !== undefined && revoker) {
    await revoker.revoke([start.replaced], {
      reason: `debounced: replaced by ${submission.id}`,
      ...(submission.owner ? { by: submission.owner } : {}),
      known: [{ id: start.replaced, name: submission.name, queue: submission.queue, owner: submission.owner ?? null }],
    });
  }
  const answer = await publishAndWait(parts, submission, call, false, (send) => parts.idempotency.publish(key, submission, send));
  return start.replaced !== undefined ? { ...answer, replaced: start.replaced } : answer;
}

/**
 * The answer for a submit deduplicated against task `id`: the task as the store has it (waited
 * for like a replay, when asked and allowed). Without `readReplay`, only what a submit answers
 * (PENDING, its arguments), never its result or error. Unlike a replay, nothing is written: the
 * held task's arguments are not this submit's.
 */
async function deduplicated(parts: SubmitParts, submission: Submission, id: string, call: SubmitCall): Promise<SubmitAnswer> {
  const stored = await parts.ledger.read(id);
  const answer = (task: TaskRecord, abandoned = false): SubmitAnswer => ({ id, replayed: false, deduplicated: true, published: false, task, finished: isFinalState(task.state), abandoned });
  // No row yet (its submit is a ?wait= still waiting, or its result mode writes no PENDING row):
  // the task of this name, whose arguments only its own submit knows.
  let task: TaskRecord = stored ?? { ...pendingRecord(submission), id, args: [], kwargs: {} };
  if (!call.readReplay) {
    const { name, queue, args, kwargs, createdAt } = task;
    return answer({ id, name, queue, state: 'PENDING', args, kwargs, retries: 0, createdAt });
  }
  const waitMs = call.waitMs ?? 0;
  if (waitMs > 0 && !isFinalState(task.state)) {
    const finished = await parts.ledger.wait(id, { timeoutMs: waitMs, pollAfterMs: 0, ...(call.signal ? { signal: call.signal } : {}) });
    if (call.signal?.aborted) return answer(task, true);
    task = finished?.kind === 'record' ? finished.record : ((await parts.ledger.read(id)) ?? task);
  }
  return answer(task);
}
