/** The latency budget's arithmetic (bench/lib/budget.ts): merging stamps by id, percentiles, steps and shares. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { budget, budgetTable, mergeById, parseTrace, percentile, within, type Flow, type Stamps } from '../../bench/lib/budget.js';
import type { TraceHop, TraceLine } from '../../shared/src/core/trace.js';

const line = (id: string, hop: TraceHop, t: number, pid = 1): TraceLine => ({ id, hop, t, pid });

describe('percentile', () => {
  it('is the nearest rank', () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentile(sorted, 50), 5);
    assert.equal(percentile(sorted, 90), 9);
    assert.equal(percentile(sorted, 100), 10);
    assert.equal(percentile(sorted, 1), 1);
    assert.equal(percentile([7], 50), 7);
    assert.ok(Number.isNaN(percentile([], 50)));
  });
});

describe('parseTrace and mergeById', () => {
  it('reads NDJSON lines, skipping a torn or foreign line', () => {
    const text = `${JSON.stringify(line('a', 'publish', 10))}\n{"id":"a","hop":"conf\n${JSON.stringify({ other: true })}\n\n${JSON.stringify(line('a', 'confirm', 12, 2))}\n`;
    assert.deepEqual(parseTrace(text), [line('a', 'publish', 10), line('a', 'confirm', 12, 2)]);
  });

  it('groups stamps by task id, from every process, keeping the first time of a repeated hop', () => {
    const tasks = mergeById([line('a', 'delivered', 20, 2), line('a', 'publish', 10, 1), line('b', 'publish', 11), line('a', 'delivered', 15, 2)]);
    assert.deepEqual([...tasks.keys()].sort(), ['a', 'b']);
    assert.equal(tasks.get('a')!.get('publish'), 10);
    assert.equal(tasks.get('a')!.get('delivered'), 15);
  });

  it('selects the tasks of one phase by the time of a hop', () => {
    const tasks = mergeById([line('early', 'http.in', 5), line('in', 'http.in', 10), line('late', 'http.in', 21), line('none', 'publish', 10)]);
    assert.deepEqual(
      within(tasks, 'http.in', 10, 20).map((s) => s.get('http.in')),
      [10],
    );
  });
});

const flow: Flow = { name: 'test', chain: ['http.in', 'publish', 'reply.in', 'http.out'], side: [['publish', 'confirm']] };

describe('budget', () => {
  it('splits each task into its steps, with the side steps apart', () => {
    const tasks: Stamps[] = [
      new Map<TraceHop, number>([['http.in', 0], ['publish', 1], ['reply.in', 4], ['http.out', 5], ['confirm', 9]]),
      new Map<TraceHop, number>([['http.in', 100], ['publish', 101], ['reply.in', 104], ['http.out', 105]]),
      // Without every chain hop: not in the chain's steps, but its side step counts.
      new Map<TraceHop, number>([['http.in', 200], ['publish', 201], ['confirm', 203]]),
    ];
    const b = budget(flow, tasks);
    assert.equal(b.tasks, 2);
    assert.deepEqual(b.endToEnd, { from: 'http.in', to: 'http.out', p50: 5, p90: 5 });
    assert.deepEqual(
      b.steps.map((s) => [s.from, s.to, s.onPath, s.count, s.p50]),
      [
        ['http.in', 'publish', true, 2, 1],
        ['publish', 'reply.in', true, 2, 3],
        ['reply.in', 'http.out', true, 2, 1],
        ['publish', 'confirm', false, 2, 2],
      ],
    );
    assert.deepEqual(
      b.steps.map((s) => s.share),
      [0.2, 0.6, 0.2, undefined],
    );
    const table = budgetTable(b);
    assert.ok(table.includes('| publish → reply.in | 3.00 | 3.00 | 60.0 % |'), table);
    assert.ok(table.includes('| publish → confirm (beside the path) | 2.00 | 8.00 |  |'), table);
  });

  it('gives no share and no percentiles when no task has every hop', () => {
    const b = budget(flow, [new Map<TraceHop, number>([['http.in', 0]])]);
    assert.equal(b.tasks, 0);
    assert.ok(Number.isNaN(b.endToEnd.p50));
    assert.ok(b.steps.every((s) => s.share === undefined && s.count === 0));
  });

  it('with stamps in chain order: steps are non-negative, none exceeds the end to end, shares sum to 1', () => {
    const task = fc.array(fc.double({ min: 0, max: 1000, noNaN: true }), { minLength: flow.chain.length, maxLength: flow.chain.length });
    fc.assert(
      fc.property(fc.array(task, { minLength: 1, maxLength: 50 }), fc.double({ min: 0, max: 1e12, noNaN: true }), (gaps, origin) => {
        const tasks = gaps.map((g) => {
          let t = origin;
          return new Map<TraceHop, number>(flow.chain.map((hop, i) => [hop, (t += g[i]!)]));
        });
        const b = budget(flow, tasks);
        assert.equal(b.tasks, tasks.length);
        const chain = b.steps.filter((s) => s.onPath);
        for (const s of chain) {
          assert.ok(s.p50 >= 0 && s.p90 >= s.p50, `${s.from} → ${s.to}`);
          // Each task's step is within its end to end, so each percentile is too.
          assert.ok(s.p50 <= b.endToEnd.p50 + 1e-6 && s.p90 <= b.endToEnd.p90 + 1e-6);
        }
        const shares = chain.map((s) => s.share);
        if (shares.every((s) => s !== undefined)) {
          assert.ok(shares.every((s) => s >= 0));
          const sum = shares.reduce((a, s) => a + s, 0);
          assert.ok(Math.abs(sum - 1) < 1e-6, `shares sum to ${sum}`);
        } else assert.ok(shares.every((s) => s === undefined), 'no share at all when the end to end is 0');
      }),
    );
  });
});
