/**
 * The pure decisions of per-key concurrency (worker/src/flow/decide.ts): a task's key, its
 * key's limit with weights, what an arriving task does, and whom a freed slot goes to; and
 * the checks `defineTask` makes of `concurrency` when the app loads.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { defineTask, z } from '../../index.js';
import { decideEntry, flowKeyOf, keyLimit, pickDispatch } from '../../worker/src/flow/decide.js';

const slots = (...ids: string[]): Array<{ taskId: string }> => ids.map((taskId) => ({ taskId }));

describe('flow control: the key of a task', () => {
  const byInput = { name: 'a.input', style: 'input' as const };
  const byArgs = { name: 'a.args', style: 'args' as const };

  it('a one-object task\'s key function gets its input; a positional one gets { args, kwargs }', () => {
    assert.deepEqual(flowKeyOf(byInput, { limit: 1, key: (i) => (i as { c: string }).c }, [], { c: 'acme' }), { ok: true, key: 'acme' });
    const positional = flowKeyOf(byArgs, { limit: 1, key: (i) => JSON.stringify(i) }, [1, 2], { k: true });
    assert.deepEqual(positional, { ok: true, key: '{"args":[1,2],"kwargs":{"k":true}}' });
  });

  it('without a key function, one key for the whole task type', () => {
    assert.deepEqual(flowKeyOf(byArgs, { limit: 3 }, [1], {}), { ok: true, key: '' });
  });

  it('a key function that throws, returns a non-string or a key over 200 characters gives a message naming the task', () => {
    const thrown = flowKeyOf(byInput, { limit: 1, key: () => { throw new Error('boom'); } }, [], {});
    assert.deepEqual(thrown, { ok: false, message: 'The concurrency key function of a.input threw: boom' });
    for (const value of [42, undefined, null, {}, ['a']]) {
      const result = flowKeyOf(byInput, { limit: 1, key: () => value as string }, [], {});
      assert.equal(result.ok, false);
      assert.match(!result.ok ? result.message : '', /^The concurrency key function of a\.input returned .*, not a string$/);
    }
    assert.equal(flowKeyOf(byInput, { limit: 1, key: () => 'k'.repeat(200) }, [], {}).ok, true);
    assert.match(JSON.stringify(flowKeyOf(byInput, { limit: 1, key: () => 'k'.repeat(201) }, [], {})), /201 characters \(at most 200\)/);
  });

  it('a key the store cannot hold (U+0000, a lone surrogate) fails the task instead of reaching PostgreSQL', () => {
    for (const bad of ['a\u0000b', 'x\ud800']) {
      const result = flowKeyOf(byInput, { limit: 1, key: () => bad }, [], {});
      assert.match(!result.ok ? result.message : '', /^The concurrency key function of a\.input returned a key the store cannot hold: /);
    }
  });

  it('a key\'s limit is limit × its weight, rounded down, at least 1', () => {
    const config = { limit: 2, weights: { big: 3, half: 0.5, tiny: 0.1 } };
    assert.deepEqual(['big', 'half', 'tiny', 'other'].map((k) => keyLimit(config, k)), [6, 1, 1, 2]);
  });
});

describe('flow control: what an arriving task does', () => {
  it('a key with room, or a task that holds its own slot already, takes it', () => {
    assert.deepEqual(decideEntry('t3', slots('t1'), 2), { kind: 'take' });
    assert.deepEqual(decideEntry('t1', slots('t1', 't2'), 2, 'cancel-newest'), { kind: 'take' });
  });

  it('a full key: queue parks, cancel-newest drops, cancel-in-progress revokes the oldest holders to leave one slot', () => {
    assert.deepEqual(decideEntry('t9', slots('t1', 't2'), 2), { kind: 'park' });
    assert.deepEqual(decideEntry('t9', slots('t1', 't2'), 2, 'cancel-newest'), { kind: 'cancel-newest' });
    assert.deepEqual(decideEntry('t9', slots('t1', 't2'), 2, 'cancel-in-progress'), { kind: 'supersede', victims: ['t1'] });
    // A limit lowered since (more holders than slots): as many as it takes.
    assert.deepEqual(decideEntry('t9', slots('t1', 't2', 't3'), 1, 'cancel-in-progress'), { kind: 'supersede', victims: ['t1', 't2', 't3'] });
  });

  it('property: a task takes a slot exactly when its key has room or it holds one; supersede leaves exactly one slot free', () => {
    const strategies = fc.constantFrom('queue' as const, 'cancel-newest' as const, 'cancel-in-progress' as const);
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 8 }), fc.integer({ min: 1, max: 5 }), fc.string({ minLength: 1, maxLength: 4 }), strategies, (held, limit, id, strategy) => {
        const decision = decideEntry(id, slots(...held), limit, strategy);
        assert.equal(decision.kind === 'take', held.includes(id) || held.length < limit);
        if (decision.kind === 'supersede') {
          assert.deepEqual(decision.victims, held.slice(0, decision.victims.length));
          assert.equal(held.length - decision.victims.length, limit - 1);
        }
      }),
    );
  });
});

describe('flow control: whom a freed slot goes to', () => {
  const waiting = (...ids: string[]): Array<{ taskId: string; seq: string }> => ids.map((taskId, i) => ({ taskId, seq: String(i + 1) }));

  it('the oldest waiting tasks get the room; one whose dispatch did not complete (its slot live) goes again without room', () => {
    assert.deepEqual(pickDispatch(waiting('w1', 'w2', 'w3'), slots('r1'), 2).map((w) => w.taskId), ['w1']);
    assert.deepEqual(pickDispatch(waiting('w1', 'w2', 'w3'), slots('r1', 'w2'), 2).map((w) => w.taskId), ['w2']);
    assert.deepEqual(pickDispatch(waiting('w1', 'w2'), slots(), 3).map((w) => w.taskId), ['w1', 'w2']);
  });

  it('property: never more slots than the limit once the picked take theirs, and the picks are oldest first', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 10 }), (limit, running, queued) => {
        const live = slots(...Array.from({ length: Math.min(running, limit) }, (_, i) => `r${i}`));
        const candidates = waiting(...Array.from({ length: queued }, (_, i) => `w${i}`));
        const picked = pickDispatch(candidates, live, limit);
        assert.ok(live.length + picked.length <= limit);
        assert.equal(picked.length, Math.min(queued, limit - live.length));
        assert.deepEqual(picked, candidates.slice(0, picked.length));
      }),
    );
  });
});

describe('defineTask: concurrency', () => {
  const input = z.object({ customer: z.string() });
  const define = (concurrency: unknown) => () => defineTask({ name: 'acme.sync', input, concurrency: concurrency as never, run: () => 1 });

  it('is kept on the definition, typed from the input', () => {
    const task = defineTask({ name: 'acme.sync', input, concurrency: { key: (i) => i.customer, limit: 2, strategy: 'cancel-newest', weights: { vip: 2 } }, run: () => 1 });
    assert.equal(task.concurrency?.limit, 2);
    assert.equal(task.concurrency?.key?.({ customer: 'c1' }), 'c1');
  });

  it('is refused when the app loads, naming the task: limit, strategy, weights, key', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ limit: 0 }, /concurrency\.limit must be a positive integer/],
      [{ limit: 1.5 }, /concurrency\.limit must be a positive integer/],
      [{ limit: 1, strategy: 'drop' }, /concurrency\.strategy must be queue, cancel-in-progress, cancel-newest/],
      [{ limit: 1, weights: { a: 0 } }, /concurrency\.weights\["a"\] must be a positive number/],
      [{ limit: 1, weights: { a: 'x' } }, /concurrency\.weights\["a"\] must be a positive number/],
      [{ limit: 1, key: 'customer' }, /concurrency\.key must be a function/],
      ['2', /concurrency must be an object/],
    ];
    for (const [concurrency, message] of cases) {
      assert.throws(define(concurrency), (err: Error) => message.test(err.message) && err.message.startsWith('defineTask("acme.sync")'));
    }
  });
});
