/**
 * The pure decisions behind claims: why a refused claim is refused (claimRefusal, and the same
 * name rule in checkRedelivery), and the batch writer's rule that rows which must not merge
 * (two claims of one task, writes of two names under one id) go in separate statements, in
 * the order they were written, each caller getting its own row's answer.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BatchWriter } from '../../shared/src/store/batch-writer.js';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import {
  TASK_STATES,
  isFinalState,
  stateOrder,
  type TaskRecord,
} from '../../shared/src/core/task.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { admit, checkRedelivery, claimRefusal } from '../../worker/src/pipeline/admit.js';
import { demoApp } from '../helpers/demo.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

const stored = fc.record({
  name: fc.constantFrom('demo.add', 'demo.other'),
  state: fc.constantFrom(...TASK_STATES),
  retries: fc.integer({ min: 0, max: 3 }),
  leaseOffsetMs: fc.option(fc.integer({ min: -10_000, max: 10_000 }), { nil: undefined }),
  leaseHolder: fc.option(fc.constantFrom('w/a', 'w/b'), { nil: undefined }),
});

function row(s: { name: string; state: TaskRecord['state']; retries: number; leaseOffsetMs: number | undefined; leaseHolder: string | undefined }): TaskRecord {
  return {
    id: 't1', name: s.name, queue: 'q', state: s.state, args: [], kwargs: {}, retries: s.retries, createdAt: new Date(NOW),
    leaseExpiresAt: s.leaseOffsetMs === undefined ? null : new Date(NOW + s.leaseOffsetMs), leaseHolder: s.leaseHolder ?? null,
  };
}

describe('claim refusals', () => {
  it('another name wins over everything (nothing of another task is answered); then final, live lease, further on', () => {
    fc.assert(
      fc.property(fc.option(stored, { nil: undefined }), fc.integer({ min: 0, max: 3 }), (s, retries) => {
        const found = s && row(s);
        const refusal = claimRefusal({ name: 'demo.add', retries }, found, NOW);
        if (!found) return assert.deepEqual(refusal, { kind: 'running', leaseMs: 0, holder: null });
        const live = (found.leaseExpiresAt?.getTime() ?? 0) > NOW;
        if (found.name !== 'demo.add') assert.equal(refusal.kind, 'name-mismatch');
        else if (isFinalState(found.state)) assert.ok(refusal.kind === 'finished' && refusal.stored === found);
        else if (live) assert.ok(refusal.kind === 'running' && refusal.leaseMs > 0 && refusal.holder === (found.leaseHolder ?? null));
        else if (stateOrder(found.state, found.retries) > stateOrder('STARTED', retries)) assert.deepEqual(refusal, { kind: 'superseded', retries: found.retries });
        // The row changed between the claim and the read (its lease just lapsed): back briefly.
        else assert.deepEqual(refusal, { kind: 'running', leaseMs: 0, holder: found.leaseHolder ?? null });
      }),
    );
  });

  it('a redelivered copy whose id is another task\'s is refused by name before its row is answered or counted', () => {
    fc.assert(
      fc.property(stored, fc.boolean(), (s, runningHere) => {
        fc.pre(s.name !== 'demo.add');
        const message = { id: 't1', name: 'demo.add', retries: 0 } as Parameters<typeof checkRedelivery>[0]['message'];
        const checked = checkRedelivery({ message, stored: row(s), runningHere, now: NOW, deliveryLimit: 5 });
        assert.deepEqual(checked, { kind: 'name-mismatch', storedName: s.name });
      }),
    );
  });
});

describe('admit: a refusal that records the task reads its row first', () => {
  it('a fresh message whose id is another task\'s is refused by name, not recorded as unknown, invalid or expired; a fresh one that runs costs no read', async () => {
    const lookups: string[] = [];
    const victim = row({ name: 'demo.add', state: 'STARTED', retries: 0, leaseOffsetMs: 5_000, leaseHolder: 'w/a' });
    const deps = {
      catalogue: new Catalogue((await demoApp()).tasks),
      appUrl: undefined,
      deliveryLimit: 5,
      lookup: (id: string) => (lookups.push(id), Promise.resolve(victim)),
      runningHere: () => false,
      log: createSilentLogger(),
    };
    const forged = [
      newTaskMessage({ id: 't1', name: 'demo.nope', args: [], kwargs: {} }),
      newTaskMessage({ id: 't1', name: 'demo.echo', args: [], kwargs: {}, expires: new Date(Date.now() - 1_000).toISOString() }),
      { ...newTaskMessage({ id: 't1', name: 'demo.sleep', args: [], kwargs: {} }), args: ['not a number'] },
    ];
    for (const m of forged) {
      const encoded = encodeTaskMessage(m);
      const admission = await admit({ queue: 'demo', content: encoded.content, properties: encoded.options, redelivered: false }, m, deps);
      assert.deepEqual(admission, { kind: 'name-mismatch', storedName: 'demo.add' }, m.name);
    }
    const own = newTaskMessage({ id: 't1', name: 'demo.add', args: [1, 2], kwargs: {} });
    const encoded = encodeTaskMessage(own);
    lookups.length = 0;
    assert.equal((await admit({ queue: 'demo', content: encoded.content, properties: encoded.options, redelivered: false }, own, deps)).kind, 'run');
    assert.deepEqual(lookups, [], 'the claim decides for a task that runs');
  });
});

describe('BatchWriter rows that must not merge', () => {
  it('never share a statement, keep their order per key, and each caller gets its own answer', async () => {
    const write = fc.record({ key: fc.constantFrom('a', 'b', 'c'), tag: fc.constantFrom('x', 'y') });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(write, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 5 }), async (ticks) => {
        const batches: { key: string; n: number }[][] = [];
        const writer = new BatchWriter<{ key: string; tag: string; n: number }, string>({
          key: (r) => r.key,
          // Rows of one tag merge (the later wins); rows of another tag must go apart.
          merge: (older, newer) => (older.tag === newer.tag ? newer : undefined),
          flush: async (rows) => {
            batches.push(rows.map((r) => ({ key: r.key, n: r.n })));
            await new Promise((resolve) => setImmediate(resolve));
            return rows.map((r) => `${r.key}#${r.n}`);
          },
          maxInFlight: 1,
        });
        let n = 0;
        const answers: Promise<{ n: number; key: string; answer: string }>[] = [];
        for (const tick of ticks) {
          for (const w of tick) {
            const mine = { ...w, n: n++ };
            answers.push(writer.write(mine).then((answer) => ({ n: mine.n, key: mine.key, answer })));
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
        const settled = await Promise.all(answers);
        for (const b of batches) assert.equal(new Set(b.map((r) => r.key)).size, b.length, 'one row per key in a statement');
        const flushed = batches.flat();
        for (const key of ['a', 'b', 'c']) {
          const order = flushed.filter((r) => r.key === key).map((r) => r.n);
          assert.deepEqual(order, [...order].sort((x, y) => x - y), `rows of ${key} flushed in order`);
        }
        for (const s of settled) {
          // Each caller's answer is the row it was written in: its own, or a later one it merged into.
          const [key, at] = s.answer.split('#');
          assert.equal(key, s.key);
          assert.ok(Number(at) >= s.n, 'answered by its own row or the row it merged into');
        }
        assert.equal(writer.pending, 0);
      }),
      { numRuns: 200, seed: 20261207 },
    );
  });
});
