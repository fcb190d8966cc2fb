/**
 * One submit through submitTask with fakes for the broker side and the key store: the task id
 * comes from one place, keys are per owner, a replay reveals the task only to a caller that may
 * read it, and a waited submit answers on a final reply even before the broker's confirm.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { CelerityError } from '../../shared/src/core/errors.js';
import { IdempotentSubmits } from '../../shared/src/submit/idempotent-submits.js';
import { TaskLedger } from '../../shared/src/submit/task-ledger.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { identify, prepareSubmission, type Submission } from '../../shared/src/submit/submission.js';
import { submitTask, type SubmitParts } from '../../shared/src/submit/submit-flow.js';
import { type IdempotencyClaim, type IdempotencyKeys } from '../../shared/src/store/idempotency.js';
import { type Submitter } from '../../shared/src/submit/submitter.js';
import { type TaskRecord } from '../../shared/src/core/task.js';
import { type TaskStore } from '../../shared/src/store/store.js';
import { demoApp } from '../helpers/demo.js';

const catalogue = new Catalogue((await demoApp()).tasks);
const submission = (args: unknown[] = [1, 2]): Submission => prepareSubmission(catalogue.get('demo.add')!, { args });

/** Keys by name, as db/idempotency.ts keeps them. */
class FakeKeys {
  readonly rows = new Map<string, { taskId: string; fingerprint: string; unconfirmed: boolean }>();
  claim(key: string, taskId: string, fingerprint: string): Promise<IdempotencyClaim> {
    const row = this.rows.get(key);
    if (!row) {
      this.rows.set(key, { taskId, fingerprint, unconfirmed: true });
      return Promise.resolve({ claimed: true });
    }
    return Promise.resolve({ claimed: false, taskId: row.taskId, sameContent: row.fingerprint === fingerprint, unconfirmed: row.unconfirmed });
  }
  confirm(key: string, taskId: string): Promise<void> {
    const row = this.rows.get(key);
    if (row?.taskId === taskId) row.unconfirmed = false;
    return Promise.resolve();
  }
}

interface Fakes {
  parts: SubmitParts & { ledger: TaskLedger };
  published: { submission: Submission; wantReply: boolean; recordPending: boolean }[];
  /** Ids whose PENDING row was written apart from the publish (a waited submit answered 202). */
  pendingWrites: string[];
  /** The store's rows by id. */
  rows: Map<string, TaskRecord>;
  /** Holds every publish's confirm until called (with false: the publish fails). */
  holdConfirms: () => (ok: boolean) => void;
}

function setup(): Fakes {
  const published: Fakes['published'] = [];
  const pendingWrites: string[] = [];
  const rows = new Map<string, TaskRecord>();
  let gate: Promise<boolean> | undefined;
  const submitter = {
    async submit(s: Submission, options: { wantReply: boolean; recordPending?: boolean }): Promise<void> {
      published.push({ submission: s, wantReply: options.wantReply, recordPending: options.recordPending !== false });
      if (gate && !(await gate)) throw new CelerityError('BROKER_UNAVAILABLE', 'no confirm');
    },
  } as unknown as Submitter;
  // A PENDING write apart from the publish goes through the ledger to the store.
  const store = {
    get: (id: string) => Promise.resolve(rows.get(id)),
    getFinished: (ids: readonly string[]) => Promise.resolve(ids.flatMap((id) => rows.get(id) ?? [])),
    record: (write: TaskRecord) => {
      if (write.state === 'PENDING') pendingWrites.push(write.id);
      return Promise.resolve();
    },
  } as unknown as TaskStore;
  const logger = createSilentLogger();
  return {
    parts: {
      submitter,
      ledger: new TaskLedger({ store, logger }),
      idempotency: new IdempotentSubmits(new FakeKeys() as unknown as IdempotencyKeys, logger),
    },
    published,
    pendingWrites,
    rows,
    holdConfirms: () => {
      let release: (ok: boolean) => void = () => undefined;
      gate = new Promise<boolean>((resolve) => (release = resolve));
      return release;
    },
  };
}

describe('identify', () => {
  it('gives a new id each time, or the id the caller chose, and never carries a republish mark over', () => {
    const first = submission();
    const again = identify(first);
    assert.notEqual(again.id, first.id);
    const marked: Submission = { ...first, republish: true };
    assert.equal(identify(marked, 'chosen').id, 'chosen');
    assert.equal(identify(marked, 'chosen').republish, undefined);
  });
});

describe('submitTask', () => {
  it('without a key publishes the submission under its own id and answers PENDING', async () => {
    const { parts, published } = setup();
    const s = submission();
    const answer = await submitTask(parts, s);
    assert.equal(answer.id, s.id);
    assert.deepEqual([answer.published, answer.replayed, answer.finished, answer.abandoned], [true, false, false, false]);
    assert.equal(answer.task.state, 'PENDING');
    assert.equal(published.length, 1);
    assert.equal(published[0]?.wantReply, false);
  });

  it('a key repeated after its confirm replays the first task and publishes nothing', async () => {
    const { parts, published } = setup();
    const first = await submitTask(parts, submission(), { idempotencyKey: 'k' });
    const again = await submitTask(parts, submission(), { idempotencyKey: 'k' });
    assert.equal(again.id, first.id);
    assert.deepEqual([again.published, again.replayed], [false, true]);
    assert.equal(published.length, 1);
  });

  it('keys are per owner: the same key of another owner makes its own task', async () => {
    const { parts, published } = setup();
    const a = await submitTask(parts, { ...submission(), owner: 'key-a' }, { idempotencyKey: 'k' });
    const b = await submitTask(parts, { ...submission(), owner: 'key-b' }, { idempotencyKey: 'k' });
    assert.notEqual(a.id, b.id);
    assert.equal(b.replayed, false);
    assert.equal(published.length, 2);
  });

  it('a replay shows the stored task only with readReplay; otherwise what the first submit got', async () => {
    const { parts, rows } = setup();
    const first = await submitTask(parts, submission(), { idempotencyKey: 'k' });
    rows.set(first.id, { ...first.task, state: 'SUCCESS', result: 3, finishedAt: new Date() });
    const blind = await submitTask(parts, submission(), { idempotencyKey: 'k' });
    assert.equal(blind.task.state, 'PENDING');
    assert.equal(blind.task.result, undefined);
    const reader = await submitTask(parts, submission(), { idempotencyKey: 'k', readReplay: true });
    assert.equal(reader.task.state, 'SUCCESS');
    assert.equal(reader.task.result, 3);
    assert.equal(reader.id, first.id);
  });

  it('a replay whose task has no row yet (its first submit still waits) writes the PENDING row before answering', async () => {
    const { parts, published, pendingWrites, rows } = setup();
    const first = submission();
    const waiting = submitTask(parts, first, { idempotencyKey: 'k', waitMs: 60_000 });
    while (published.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve)); // the key's confirm is marked
    const again = await submitTask(parts, submission(), { idempotencyKey: 'k' });
    assert.deepEqual([again.replayed, again.id, again.task.state], [true, first.id, 'PENDING']);
    assert.deepEqual(pendingWrites, [first.id], 'the replay wrote the row its 202 promises');
    rows.set(first.id, { ...again.task });
    await submitTask(parts, submission(), { idempotencyKey: 'k' });
    assert.deepEqual(pendingWrites, [first.id], 'a row already there is not written again');
    parts.ledger.heard({ id: first.id, state: 'SUCCESS', result: 3, finishedAt: new Date() });
    assert.equal((await waiting).finished, true);
  });

  it('a waited submit answers on a final reply while the confirm is still outstanding', async () => {
    const { parts, published, holdConfirms } = setup();
    const release = holdConfirms();
    const s = submission();
    const answering = submitTask(parts, s, { waitMs: 60_000 });
    while (published.length === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(published[0]?.wantReply, true);
    parts.ledger.heard({ id: s.id, state: 'SUCCESS', result: 3, finishedAt: new Date() });
    const answer = await answering;
    assert.deepEqual([answer.finished, answer.task.state, answer.task.result], [true, 'SUCCESS', 3]);
    release(true);
  });

  it('a waited submit writes PENDING only when it answers without the end; a plain submit with its publish', async () => {
    const { parts, published, pendingWrites } = setup();
    const answered = submission();
    const answering = submitTask(parts, answered, { waitMs: 60_000 });
    while (published.length === 0) await new Promise((resolve) => setImmediate(resolve));
    parts.ledger.heard({ id: answered.id, state: 'SUCCESS', result: 3, finishedAt: new Date() });
    assert.equal((await answering).finished, true);
    const timedOut = submission();
    const late = await submitTask(parts, timedOut, { waitMs: 20 });
    assert.deepEqual([late.finished, late.task.state], [false, 'PENDING']);
    const plain = await submitTask(parts, submission());
    assert.deepEqual(
      published.map((p) => p.recordPending),
      [false, false, true],
      'waited submits publish without a PENDING row; the plain one writes it with its publish',
    );
    assert.deepEqual(pendingWrites, [timedOut.id], 'only the wait that ended without the end wrote PENDING');
    assert.equal(plain.task.state, 'PENDING');
  });

  it('a waited submit whose publish fails rejects and leaves no waiter behind', async () => {
    const { parts, holdConfirms } = setup();
    const release = holdConfirms();
    const answering = submitTask(parts, submission(), { waitMs: 60_000 });
    release(false);
    await assert.rejects(answering, (err: unknown) => err instanceof CelerityError && err.code === 'BROKER_UNAVAILABLE');
    assert.equal(parts.ledger.waits.size, 0);
  });

  it('a waited submit whose caller went away is abandoned', async () => {
    const { parts } = setup();
    const gone = new AbortController();
    const answering = submitTask(parts, submission(), { waitMs: 60_000, signal: gone.signal });
    gone.abort();
    const answer = await answering;
    assert.deepEqual([answer.abandoned, answer.finished], [true, false]);
    assert.equal(parts.ledger.waits.size, 0);
  });
});
