/**
 * The waiters' deadline structure, driven by random schedules of pushes, removals and clock
 * advances (fast-check): every entry not removed comes out exactly once, never before its
 * deadline, earliest deadline first and in insertion order among equal deadlines.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DeadlineQueue, type Deadlined } from '../../shared/src/submit/deadline-queue.js';

interface Entry extends Deadlined {
  name: number;
}

type Step = { kind: 'push'; deadline: number } | { kind: 'remove'; pick: number } | { kind: 'advance'; by: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), deadline: fc.integer({ min: 0, max: 50 }) }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('advance' as const), by: fc.integer({ min: 0, max: 20 }) }),
);

describe('DeadlineQueue', () => {
  it('pops every entry not removed exactly once, at or after its deadline, in deadline then insertion order', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        const queue = new DeadlineQueue<Entry>();
        const pushed: Entry[] = [];
        const removed = new Set<Entry>();
        const popped: { entry: Entry; at: number }[] = [];
        let now = 0;
        const popDue = (): void => {
          for (let entry = queue.popDue(now); entry; entry = queue.popDue(now)) popped.push({ entry, at: now });
        };
        for (const s of steps) {
          if (s.kind === 'push') {
            const entry: Entry = { name: pushed.length, deadline: now + s.deadline, heapIndex: -1, heapSeq: 0 };
            pushed.push(entry);
            queue.push(entry);
          } else if (s.kind === 'remove') {
            const entry = pushed[s.pick % Math.max(1, pushed.length)];
            // Removing one that already came out (or twice) must change nothing.
            if (entry) {
              if (entry.heapIndex !== -1) removed.add(entry);
              queue.remove(entry);
            }
          } else {
            now += s.by;
            popDue();
          }
        }
        now += 100; // past every deadline
        popDue();
        assert.equal(queue.size, 0);
        const expected = pushed.filter((e) => !removed.has(e));
        const names = popped.map((p) => p.entry.name);
        assert.equal(new Set(names).size, names.length, 'no entry twice');
        assert.deepEqual([...names].sort((a, b) => a - b), expected.map((e) => e.name), 'every entry not removed, once');
        for (const p of popped) assert.ok(p.at >= p.entry.deadline, `entry ${p.entry.name} came out before its deadline`);
        // Within one popDue round (same `at`) entries come out earliest first, ties in push order;
        // across rounds, a later round can only hold entries that were not due before.
        for (let i = 1; i < popped.length; i++) {
          const a = popped[i - 1]!;
          const b = popped[i]!;
          if (a.at === b.at) {
            assert.ok(a.entry.deadline < b.entry.deadline || (a.entry.deadline === b.entry.deadline && a.entry.name < b.entry.name), 'out of order');
          }
        }
      }),
    );
  });

  it('nextDeadline is the earliest deadline still queued', () => {
    const queue = new DeadlineQueue<Entry>();
    const a: Entry = { name: 1, deadline: 30, heapIndex: -1, heapSeq: 0 };
    const b: Entry = { name: 2, deadline: 10, heapIndex: -1, heapSeq: 0 };
    assert.equal(queue.nextDeadline, undefined);
    queue.push(a);
    queue.push(b);
    assert.equal(queue.nextDeadline, 10);
    queue.remove(b);
    assert.equal(queue.nextDeadline, 30);
    assert.equal(queue.popDue(29), undefined);
    assert.equal(queue.popDue(30), a);
    assert.equal(queue.nextDeadline, undefined);
  });
});
