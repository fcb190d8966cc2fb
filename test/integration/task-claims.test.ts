/**
 * Claims against real PostgreSQL: a task runs only for the delivery whose claim landed. Of two
 * copies at most one holds a live lease; a final state, a task of another name and another
 * delivery's live lease refuse a claim; renewals touch only the holder's own lease; the first
 * final state wins. The last test drives random interleavings of claims, renewals, final
 * writes and lapsed leases (fast-check) and checks those rules after every step.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { isFinalState, type TaskState } from '../../shared/src/core/task.js';
import { type ClaimResult, type TaskClaim } from '../../shared/src/store/task-claims.js';
import { TestContext } from '../helpers/harness.js';

const LEASE_MS = 60_000;

function claimOf(id: string, holder: string, extra: { name?: string; retries?: number } = {}): TaskClaim {
  const write = { id, name: extra.name ?? 'demo.add', queue: 'q', args: [1, 2], kwargs: {}, retries: extra.retries ?? 0, worker: 'w', startedAt: new Date(), leaseHolder: holder };
  return { write, leaseMs: LEASE_MS };
}

function finalOf(id: string, holder: string | undefined, state: TaskState, result: unknown) {
  return { id, name: 'demo.add', queue: 'q', state, result, retries: 0, finishedAt: new Date(), ...(holder ? { leaseHolder: holder } : {}) };
}

describe('task claims', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  /** Lapses every lease, as time would. */
  const lapse = (id: string) => ctx.pool.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);

  it('two copies claiming at once (one batch): exactly one holds the run, the other sees its live lease; one start is counted', async () => {
    const id = randomUUID();
    await ctx.store.record({ id, name: 'demo.add', queue: 'q', state: 'PENDING' });
    const [a, b] = await Promise.all([ctx.store.claim(claimOf(id, 'w/a')), ctx.store.claim(claimOf(id, 'w/b'))]);
    const results = [a, b] as ClaimResult[];
    assert.equal(results.filter((r) => r.claimed).length, 1, 'one claim landed');
    const refused = results.find((r) => !r.claimed);
    assert.ok(refused && !refused.claimed);
    assert.equal(refused.found?.leaseHolder, 'w/a', 'the refused copy sees the holder');
    const row = await ctx.store.get(id);
    assert.deepEqual([row?.state, row?.attempts, row?.deliveries], ['STARTED', 1, 1]);
  });

  it('a claim after a lapsed lease takes over and counts a second start; renewals touch only the holder\'s own lease', async () => {
    const id = randomUUID();
    assert.ok((await ctx.store.claim(claimOf(id, 'w/a'))).claimed);
    await lapse(id);
    const b = await ctx.store.claim(claimOf(id, 'w/b'));
    assert.deepEqual(b, { claimed: true, attempts: 2, deliveries: 2 });
    await lapse(id);
    await ctx.store.renewLeases([{ id, holder: 'w/a' }], LEASE_MS);
    assert.ok(((await ctx.store.get(id))?.leaseExpiresAt?.getTime() ?? 0) < Date.now(), 'a stale holder renews nothing');
    await ctx.store.renewLeases([{ id, holder: 'w/b' }], LEASE_MS);
    assert.ok(((await ctx.store.get(id))?.leaseExpiresAt?.getTime() ?? 0) > Date.now(), 'the holder renews its lease');
  });

  it('a claim is refused by a final state, by a task of another name, and by a retry already scheduled', async () => {
    const id = randomUUID();
    assert.ok((await ctx.store.claim(claimOf(id, 'w/a'))).claimed);
    const other = await ctx.store.claim(claimOf(id, 'x/evil', { name: 'demo.other' }));
    assert.ok(!other.claimed && other.found?.name === 'demo.add', 'another name never claims');
    assert.equal(await ctx.store.record({ ...finalOf(id, 'w/a', 'RETRY', null), finishedAt: null }), true);
    const stale = await ctx.store.claim(claimOf(id, 'w/c'));
    assert.ok(!stale.claimed && stale.found?.state === 'RETRY', 'a stale copy of the retried attempt is refused');
    assert.ok((await ctx.store.claim(claimOf(id, 'w/d', { retries: 1 }))).claimed, 'the next attempt claims');
    assert.equal(await ctx.store.record({ ...finalOf(id, 'w/d', 'SUCCESS', 3), retries: 1 }), true);
    const late = await ctx.store.claim(claimOf(id, 'w/e', { retries: 1 }));
    assert.ok(!late.claimed && late.found?.state === 'SUCCESS' && late.found.result === 3);
    const row = await ctx.store.get(id);
    assert.deepEqual([row?.attempts, row?.deliveries], [2, 1]);
  });

  it('a write of another name changes nothing; a write by another delivery does not land on a live lease; the first final wins', async () => {
    const id = randomUUID();
    assert.ok((await ctx.store.claim(claimOf(id, 'w/a'))).claimed);
    assert.equal(await ctx.store.record({ ...finalOf(id, 'x/evil', 'SUCCESS', 'forged'), name: 'demo.other', owner: 'thief' }), false);
    assert.equal(await ctx.store.record(finalOf(id, undefined, 'REVOKED', null)), false, 'no holder: refused while a lease is live');
    await lapse(id);
    assert.ok((await ctx.store.claim(claimOf(id, 'w/b'))).claimed, 'the copy that took over');
    assert.equal(await ctx.store.record(finalOf(id, 'w/a', 'FAILURE', null)), false, 'the stale copy cannot overwrite the run that took over');
    assert.equal(await ctx.store.record(finalOf(id, 'w/b', 'SUCCESS', 3)), true);
    assert.equal(await ctx.store.record(finalOf(id, 'w/a', 'FAILURE', null)), false, 'a later final never replaces the first');
    const row = await ctx.store.get(id);
    assert.deepEqual([row?.name, row?.state, row?.result, row?.owner ?? null], ['demo.add', 'SUCCESS', 3, null]);
  });

  it('any interleaving of claims, renewals, final writes and lapses: at most one live holder, final is absorbing', async () => {
    const holders = ['w/a', 'w/b', 'v/c'];
    const step = fc.oneof(
      fc.record({ kind: fc.constant('claim' as const), holder: fc.constantFrom(...holders), retries: fc.integer({ min: 0, max: 2 }), name: fc.constantFrom('demo.add', 'demo.add', 'demo.other') }),
      fc.record({ kind: fc.constant('renew' as const), holder: fc.constantFrom(...holders) }),
      fc.record({ kind: fc.constant('final' as const), holder: fc.constantFrom(...holders), state: fc.constantFrom<TaskState>('SUCCESS', 'FAILURE', 'RETRY') }),
      fc.record({ kind: fc.constant('lapse' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        const id = randomUUID();
        await ctx.store.record({ id, name: 'demo.add', queue: 'q', state: 'PENDING' });
        /** Holders whose claim landed and whose lease has not lapsed since (as each believes). */
        let live = new Set<string>();
        let final: { state: TaskState; result: unknown } | undefined;
        for (const s of steps) {
          if (s.kind === 'claim') {
            const r = await ctx.store.claim(claimOf(id, s.holder, { name: s.name, retries: s.retries }));
            if (r.claimed) {
              assert.equal(s.name, 'demo.add', 'only the task\'s own name claims');
              assert.equal(final, undefined, 'nothing claims after a final state');
              live.add(s.holder);
            }
          } else if (s.kind === 'renew') {
            await ctx.store.renewLeases([{ id, holder: s.holder }], LEASE_MS);
          } else if (s.kind === 'final') {
            const landed = await ctx.store.record({ ...finalOf(id, s.holder, s.state, s.holder), ...(s.state === 'RETRY' ? { finishedAt: null } : {}) });
            if (landed && s.state === 'RETRY') live = new Set();
            if (landed && isFinalState(s.state)) {
              assert.equal(final, undefined, 'a final state is written once');
              final = { state: s.state, result: s.holder };
              live = new Set();
            }
          } else {
            await lapse(id);
            live = new Set();
          }
          const row = await ctx.store.get(id);
          if (final) assert.deepEqual([row?.state, row?.result], [final.state, final.result], 'final is absorbing');
          const leased = row && (row.leaseExpiresAt?.getTime() ?? 0) > Date.now() ? row.leaseHolder : undefined;
          // Every holder that believes its lease live is the one the row names: so at most one.
          for (const h of live) if (!final && row?.state === 'STARTED') assert.equal(leased, h, `${h} believes it holds a live lease`);
          assert.ok(live.size <= 1, `at most one live holder (${[...live].join(', ')})`);
          if (row) assert.equal(row.name, 'demo.add', 'the row keeps its task\'s name');
        }
      }),
      { numRuns: 60, seed: 20261207 },
    );
  });
});
