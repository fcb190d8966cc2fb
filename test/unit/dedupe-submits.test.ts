/**
 * The dedupe flow of the submit path (IdempotentSubmits.startDedupe) with a fake key store: a
 * held claim is answered only once its publish is confirmed (waiting for this process's own
 * publish, reading another process's again), a failed publish frees its key for the next
 * submit, and a debounce replaces the waiting task.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IdempotentSubmits } from '../../shared/src/submit/idempotent-submits.js';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { prepareSubmission, type Submission } from '../../shared/src/submit/submission.js';
import type { DedupeClaim, HeldDedupe, IdempotencyKeys } from '../../shared/src/store/idempotency.js';
import type { DedupeOption } from '../../shared/src/submit/dedupe.js';
import { demoApp } from '../helpers/demo.js';

const catalogue = new Catalogue((await demoApp()).tasks);

/** One dedupe key's row, as the idempotency keys' table keeps it, on a clock the test moves. */
class FakeKeys {
  row: HeldDedupe | undefined;
  now = 1_000_000;
  claims = 0;
  /** Called on every claim after the first: lets a test change the row as another process would. */
  onReclaim: (() => void) | undefined;
  claimDedupe<D>(_key: string, claim: DedupeClaim, decide: (held: HeldDedupe, now: number) => D, takes: (decision: D) => boolean): Promise<D | undefined> {
    if (this.claims++ > 0) this.onReclaim?.();
    const mine: HeldDedupe = { taskId: claim.taskId, claimedAt: this.now, unconfirmed: true, final: false, ...(claim.runAt ? { runAt: claim.runAt.getTime() } : {}) };
    if (!this.row) {
      this.row = mine;
      return Promise.resolve(undefined);
    }
    const decision = decide(this.row, this.now);
    if (takes(decision)) this.row = mine;
    return Promise.resolve(decision);
  }
  confirm(_key: string, taskId: string): Promise<void> {
    if (this.row?.taskId === taskId) this.row.unconfirmed = false;
    return Promise.resolve();
  }
  releaseDedupe(_key: string, taskId: string): Promise<void> {
    if (this.row?.taskId === taskId && this.row.unconfirmed) this.row = undefined;
    return Promise.resolve();
  }
}

const submission = (dedupe: DedupeOption): Submission => prepareSubmission(catalogue.get('demo.add')!, { args: [1, 2], options: { dedupe } });

function setup(): { keys: FakeKeys; flow: IdempotentSubmits } {
  const keys = new FakeKeys();
  return { keys, flow: new IdempotentSubmits(keys as unknown as IdempotencyKeys, createSilentLogger()) };
}

/** A publish the test settles. */
function pendingPublish(): { publish: () => Promise<void>; confirm: () => void; fail: () => void } {
  let confirm: () => void = () => undefined;
  let fail: () => void = () => undefined;
  const settled = new Promise<void>((resolve, reject) => {
    confirm = resolve;
    fail = () => reject(new Error('no confirm'));
  });
  return { publish: () => settled, confirm, fail };
}

const singleton: DedupeOption = { key: 'k', mode: 'singleton' };

describe('IdempotentSubmits.startDedupe', () => {
  it("a submit that finds this process's publish in flight waits for it, and gets its task once confirmed", async () => {
    const { flow } = setup();
    const first = submission(singleton);
    const start = await flow.startDedupe('k', singleton, first);
    assert.deepEqual(start, { kind: 'publish', submission: first });
    const slow = pendingPublish();
    const publishing = flow.publish('k', first, slow.publish);
    const second = flow.startDedupe('k', singleton, submission(singleton));
    slow.confirm();
    await publishing;
    assert.deepEqual(await second, { kind: 'deduplicated', taskId: first.id });
  });

  it('a failed publish frees the key: the submit waiting on it makes its own task', async () => {
    const { keys, flow } = setup();
    const first = submission(singleton);
    await flow.startDedupe('k', singleton, first);
    const slow = pendingPublish();
    const publishing = flow.publish('k', first, slow.publish);
    const next = submission(singleton);
    const second = flow.startDedupe('k', singleton, next);
    slow.fail();
    await assert.rejects(publishing, /no confirm/);
    assert.deepEqual(await second, { kind: 'publish', submission: next });
    assert.equal(keys.row?.taskId, next.id);
  });

  it("another process's unconfirmed claim is read again until it is confirmed, then answered", async () => {
    const { keys, flow } = setup();
    keys.row = { taskId: 'elsewhere', claimedAt: keys.now, unconfirmed: true, final: false };
    keys.onReclaim = () => {
      if (keys.claims === 3) keys.row!.unconfirmed = false; // confirmed by its process meanwhile
    };
    assert.deepEqual(await flow.startDedupe('k', singleton, submission(singleton)), { kind: 'deduplicated', taskId: 'elsewhere' });
    assert.equal(keys.claims, 3);
  });

  it("another process's claim that never gets a confirm is taken over once old enough", async () => {
    const { keys, flow } = setup();
    keys.row = { taskId: 'dead', claimedAt: keys.now, unconfirmed: true, final: false };
    keys.onReclaim = () => {
      keys.now += 20_000; // the clock passes UNCONFIRMED_TAKEOVER_MS between two reads
    };
    const mine = submission(singleton);
    assert.deepEqual(await flow.startDedupe('k', singleton, mine), { kind: 'publish', submission: mine });
    assert.equal(keys.row.taskId, mine.id);
  });

  it('a debounce replaces the task still waiting for its eta, and starts anew once it was due', async () => {
    const { keys, flow } = setup();
    const debounce: DedupeOption = { key: 'k', mode: 'debounce', windowS: 5 };
    const first = submission(debounce);
    await flow.startDedupe('k', debounce, first);
    const second = submission(debounce);
    assert.deepEqual(await flow.startDedupe('k', debounce, second), { kind: 'publish', submission: second, replaced: first.id });
    keys.now = second.eta!.getTime();
    const third = submission(debounce);
    assert.deepEqual(await flow.startDedupe('k', debounce, third), { kind: 'publish', submission: third });
  });
});
