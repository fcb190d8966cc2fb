/**
 * The bound on submits in flight: past it a submit waits, in arrival order, and gets the slot
 * of one that finished; nothing is lost or granted twice; a held wait gives its slot back once
 * its publish is confirmed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { CelerityError } from '../../shared/src/core/errors.js';
import { IdempotentSubmits } from '../../shared/src/submit/idempotent-submits.js';
import { Slots, type Release } from '../../shared/src/core/slots.js';
import { Submitter } from '../../shared/src/submit/submitter.js';
import { TaskLedger } from '../../shared/src/submit/task-ledger.js';
import { type TaskOutcome } from '../../shared/src/broker/results.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { prepareSubmission, type Submission } from '../../shared/src/submit/submission.js';
import { submitTask, type SubmitParts } from '../../shared/src/submit/submit-flow.js';
import { type Broker } from '../../shared/src/broker/connection.js';
import { type IdempotencyKeys } from '../../shared/src/store/idempotency.js';
import { type Publisher } from '../../shared/src/broker/publisher.js';
import { type DeclaredQueues } from '../../shared/src/broker/declared-topology.js';
import { type TaskStore } from '../../shared/src/store/store.js';
import { demoApp } from '../helpers/demo.js';
import { deferred, track, turns, type Deferred } from './support.js';

describe('Slots, as the bound on submits in flight', () => {
  it('grants up to max at once; the next waits and proceeds once one is released', async () => {
    const slots = new Slots(2);
    const first = slots.tryAcquire();
    const second = slots.tryAcquire();
    assert.ok(first && second, 'two free slots, taken without waiting');
    assert.equal(slots.held, 2);
    assert.equal(slots.tryAcquire(), undefined, 'no third free slot');
    const thirdTurn = slots.acquire();
    const waiting = track(thirdTurn);
    await turns();
    assert.equal(waiting.state.status, 'pending', 'the third waits');
    assert.equal(slots.waiting, 1);
    first();
    await turns();
    assert.equal(waiting.state.status, 'fulfilled');
    assert.equal(slots.held, 2, 'the slot passed on, not freed');
    assert.equal(slots.waiting, 0);
    second();
    (await thirdTurn)();
    assert.equal(slots.held, 0);
  });

  it('refuses a bound that is not a positive integer', () => {
    assert.throws(() => new Slots(0), RangeError);
    assert.throws(() => new Slots(1.5), RangeError);
  });

  it('under any order of arrivals and releases: never more than max in flight, FIFO, every waiter served', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.array(fc.boolean(), { maxLength: 300 }), async (max, ops) => {
        const slots = new Slots(max);
        const holders: Release[] = [];
        let arrivals = 0;
        const granted: number[] = [];
        const pending: Promise<void>[] = [];
        const arrive = (): void => {
          const n = arrivals++;
          const now = slots.tryAcquire();
          if (now) {
            holders.push(now);
            granted.push(n);
          } else {
            pending.push(
              slots.acquire().then((release) => {
                holders.push(release);
                granted.push(n);
              }),
            );
          }
        };
        const releaseOne = (): void => holders.shift()?.();
        for (const isArrival of ops) {
          if (isArrival) arrive();
          else releaseOne();
          await turns(1);
          assert.ok(holders.length <= max, `${holders.length} in flight, bound ${max}`);
          assert.equal(slots.held, holders.length, 'a handed-over slot is held by its new owner');
        }
        // Release everything: every arrival is eventually served, in arrival order.
        // Bounded, so that a queue losing a waiter fails here instead of spinning.
        for (let round = 0; round <= 2 * ops.length && (granted.length < arrivals || holders.length > 0); round++) {
          releaseOne();
          await turns(1);
        }
        await Promise.all(pending);
        assert.deepEqual(granted, Array.from({ length: arrivals }, (_, i) => i));
        assert.equal(slots.held, 0);
        assert.equal(slots.waiting, 0);
      }),
      { numRuns: 50 },
    );
  });
});

const catalogue = new Catalogue((await demoApp()).tasks);

describe('Submitter: the bound on submits in flight', () => {
  const submission = (): Submission => prepareSubmission(catalogue.get('demo.add')!, { args: [1, 2] });

  /** A Submitter whose publishes wait for `confirm()`, bounded at `max`. */
  function setup(max: number): { submitter: Submitter; published: string[]; confirm: (ok?: boolean) => void } {
    const published: string[] = [];
    const confirms: Deferred<void>[] = [];
    const publisher = {
      declare: () => Promise.resolve(),
      publish(_target: unknown, message: { options: { correlationId: string } }): Promise<void> {
        published.push(message.options.correlationId);
        const confirm = deferred();
        confirms.push(confirm);
        return confirm.promise;
      },
    } as unknown as Publisher;
    const store = { record: () => Promise.resolve(), forgetUnpublished: () => Promise.resolve() } as unknown as TaskStore;
    const ledger = new TaskLedger({ store, logger: createSilentLogger() });
    const submitter = new Submitter({
      broker: { connected: true, connection: {} } as unknown as Broker,
      publisher,
      queues: { has: () => true } as unknown as DeclaredQueues,
      delayQueues: { has: () => true } as unknown as DeclaredQueues,
      ledger,
      catalogue,
      logger: createSilentLogger(),
      replyTo: () => 'reply',
      maxSubmitsInFlight: max,
    });
    const confirm = (ok = true): void => {
      const next = confirms.shift();
      assert.ok(next, 'a publish to confirm');
      if (ok) next.resolve();
      else next.reject(new CelerityError('BROKER_UNAVAILABLE', 'refused'));
    };
    return { submitter, published, confirm };
  }

  it('with N publishes unconfirmed, the N+1th waits before publishing and goes once one is confirmed', async () => {
    const { submitter, published, confirm } = setup(2);
    const subs = [submission(), submission(), submission(), submission()];
    const all = subs.map((s) => track(submitter.submit(s, { wantReply: true })));
    await turns();
    assert.deepEqual(published, [subs[0]!.id, subs[1]!.id], 'only two publish');
    assert.deepEqual(submitter.inFlight, { publishing: 2, queued: 2 });
    confirm();
    await turns();
    assert.equal(all[0]!.state.status, 'fulfilled');
    assert.deepEqual(published, [subs[0]!.id, subs[1]!.id, subs[2]!.id], 'the third goes in arrival order');
    // A failed publish gives its slot back too.
    confirm(false);
    await turns();
    assert.equal(all[1]!.state.status, 'rejected');
    assert.equal(published.length, 4);
    confirm();
    confirm();
    await turns();
    assert.deepEqual(
      all.map((a) => a.state.status),
      ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    assert.deepEqual(submitter.inFlight, { publishing: 0, queued: 0 });
  });

  it('a held ?wait= does not keep its slot: the next submit publishes once the first is confirmed, while the first still waits', async () => {
    const { submitter, published, confirm } = setup(1);
    const ledger = new TaskLedger({ store: { getFinished: () => Promise.resolve([]), get: () => Promise.resolve(undefined) } as unknown as TaskStore, logger: createSilentLogger(), tickMs: 60_000 });
    const waiters = { resolveReply: (o: TaskOutcome) => ledger.heard(o), get size() { return ledger.waits.size; } };
    const keys = new IdempotentSubmits({} as unknown as IdempotencyKeys, createSilentLogger());
    const parts: SubmitParts = { submitter, ledger, idempotency: keys };
    const first = submission();
    const held = track(submitTask(parts, first, { waitMs: 60_000 }));
    await turns();
    confirm();
    await turns();
    assert.equal(held.state.status, 'pending', 'still waiting for its result');
    const second = track(submitTask(parts, submission()));
    await turns();
    assert.equal(published.length, 2, 'the second published while the first waits');
    confirm();
    await turns();
    assert.equal(second.state.status, 'fulfilled');
    waiters.resolveReply({ id: first.id, state: 'SUCCESS', result: 3, finishedAt: new Date() });
    await turns();
    assert.equal(held.state.status, 'fulfilled');
    assert.equal(waiters.size, 0);
  });
});
