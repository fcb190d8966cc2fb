/**
 * The idempotency flow of the submit path with a fake key store: a replay is answered from a
 * claim only once a publish of its task was confirmed; otherwise the task is published again
 * (or, when this process is still publishing it, that publish's outcome decides).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CelerityError } from '../../shared/src/core/errors.js';
import { IdempotentSubmits } from '../../shared/src/submit/idempotent-submits.js';
import { TaskFailedError } from '../../shared/src/client/errors.js';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { prepareSubmission, type Submission } from '../../shared/src/submit/submission.js';
import { type IdempotencyClaim, type IdempotencyKeys } from '../../shared/src/store/idempotency.js';
import { demoApp } from '../helpers/demo.js';

const catalogue = new Catalogue((await demoApp()).tasks);

/** One key's row, as db/idempotency.ts keeps it. */
class FakeKeys {
  row: { taskId: string; fingerprint: string; unconfirmed: boolean } | undefined;
  confirmFails = false;
  confirms = 0;
  claim(_key: string, taskId: string, fingerprint: string): Promise<IdempotencyClaim> {
    if (!this.row) {
      this.row = { taskId, fingerprint, unconfirmed: true };
      return Promise.resolve({ claimed: true });
    }
    return Promise.resolve({ claimed: false, taskId: this.row.taskId, sameContent: this.row.fingerprint === fingerprint, unconfirmed: this.row.unconfirmed });
  }
  confirm(_key: string, taskId: string): Promise<void> {
    if (this.confirmFails) return Promise.reject(new Error('database down'));
    if (this.row?.taskId === taskId) this.row.unconfirmed = false;
    this.confirms++;
    return Promise.resolve();
  }
}

const submission = (): Submission => prepareSubmission(catalogue.get('demo.add')!, { args: [1, 2] });

function setup(): { keys: FakeKeys; flow: IdempotentSubmits } {
  const keys = new FakeKeys();
  return { keys, flow: new IdempotentSubmits(keys as unknown as IdempotencyKeys, createSilentLogger()) };
}

describe('IdempotentSubmits', () => {
  it('first submit publishes and confirms; a replay after the confirm publishes nothing', async () => {
    const { keys, flow } = setup();
    const first = submission();
    const start = await flow.start('k', first);
    assert.equal(start.kind, 'publish');
    await flow.publish('k', first, () => Promise.resolve());
    assert.equal(keys.row?.unconfirmed, false);
    assert.deepEqual(await flow.start('k', submission()), { kind: 'replay', taskId: first.id });
  });

  it('a claim never confirmed (its process died) is published again under its task id, as a re-publish', async () => {
    const { keys, flow } = setup();
    const first = submission();
    keys.row = { taskId: first.id, fingerprint: first.fingerprint, unconfirmed: true };
    const start = await flow.start('k', submission());
    assert.equal(start.kind, 'publish');
    assert.ok(start.kind === 'publish' && start.replayed && start.submission.republish === true && start.submission.id === first.id);
  });

  it('a replay while this process still publishes waits: confirmed → replay, failed → publish again', async () => {
    for (const outcome of ['confirmed', 'failed'] as const) {
      const { flow } = setup();
      const first = submission();
      await flow.start('k', first);
      let settle: (ok: boolean) => void = () => undefined;
      const publishing = flow.publish('k', first, () => new Promise<void>((resolve, reject) => (settle = (ok) => (ok ? resolve() : reject(new CelerityError('BROKER_UNAVAILABLE', 'no confirm'))))));
      publishing.catch(() => undefined);
      const replay = flow.start('k', submission());
      let decided = false;
      void replay.then(() => (decided = true));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(decided, false, 'no answer before the first publish is decided');
      settle(outcome === 'confirmed');
      const start = await replay;
      if (outcome === 'confirmed') assert.deepEqual(start, { kind: 'replay', taskId: first.id });
      else assert.ok(start.kind === 'publish' && start.submission.republish === true && start.submission.id === first.id);
    }
  });

  it('a failed confirm mark does not fail the submit; the next replay publishes again', async () => {
    const { keys, flow } = setup();
    keys.confirmFails = true;
    const first = submission();
    await flow.start('k', first);
    await flow.publish('k', first, () => Promise.resolve());
    const start = await flow.start('k', submission());
    assert.equal(start.kind, 'publish');
  });

  it('the same key with other content is IDEMPOTENCY_KEY_REUSED', async () => {
    const { flow } = setup();
    await flow.start('k', submission());
    const other = prepareSubmission(catalogue.get('demo.add')!, { args: [9, 9] });
    await assert.rejects(flow.start('k', other), (err: unknown) => err instanceof CelerityError && err.code === 'IDEMPOTENCY_KEY_REUSED');
  });
});

describe('TaskFailedError', () => {
  it('carries the task error type and message, and says both', () => {
    const err = new TaskFailedError('id-1', 'FAILURE', { type: 'ValueError', message: 'bad input' });
    assert.equal(err.code, 'TASK_FAILED');
    assert.equal(err.type, 'ValueError');
    assert.equal(err.taskMessage, 'bad input');
    assert.match(err.message, /ValueError: bad input/);
    assert.equal(new TaskFailedError('id-2', 'REVOKED', null).type, 'TaskRevokedError');
  });
});
