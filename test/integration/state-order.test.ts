/**
 * The task-state order has one home, task.ts (STATE_RANK, stateOrder); the store's SQL repeats
 * it in celerity_state_order (migration 1), which every forward-only write and every claim
 * compares with, and in the states the tasks table accepts. This test asks PostgreSQL itself,
 * after migrating, for every state at several retry counts, and fails when the two disagree.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  FINAL_STATES,
  TASK_STATES,
  stateOrder,
  type TaskState,
} from '../../shared/src/core/task.js';
import { TestContext } from '../helpers/harness.js';

const RETRIES = [0, 1, 2, 7, 1_000, 2 ** 31 - 1];

describe('task-state order: TypeScript and SQL agree', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await TestContext.create();
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('celerity_state_order ranks every pair of (state, retries) as stateOrder does', async () => {
    const cases = TASK_STATES.flatMap((state) => RETRIES.map((retries) => ({ state, retries })));
    const { rows } = await ctx.pool.query<{ state: TaskState; retries: number; ord: string }>(
      `SELECT c.state, c.retries, celerity_state_order(c.state, c.retries)::text AS ord
       FROM unnest($1::text[], $2::integer[]) AS c(state, retries)`,
      [cases.map((c) => c.state), cases.map((c) => c.retries)],
    );
    const sql = new Map(rows.map((r) => [`${r.state}@${r.retries}`, BigInt(r.ord)]));
    for (const a of cases) {
      for (const b of cases) {
        const inTs = Math.sign(stateOrder(a.state, a.retries) - stateOrder(b.state, b.retries));
        const [x, y] = [sql.get(`${a.state}@${a.retries}`), sql.get(`${b.state}@${b.retries}`)];
        assert.ok(x !== undefined && y !== undefined);
        const inSql = x > y ? 1 : x < y ? -1 : 0;
        assert.equal(inSql, inTs, `${a.state}@${a.retries} against ${b.state}@${b.retries}`);
      }
    }
  });

  it('the tasks table accepts exactly the states of task.ts, and the final ones outrank every attempt', async () => {
    const accepted: string[] = [];
    for (const state of [...TASK_STATES, 'QUEUED', 'success']) {
      const ok = await ctx.pool
        .query(`INSERT INTO tasks (id, name, queue, state) VALUES ($1, 'x', 'q', $2)`, [`s-${state}`, state])
        .then(() => true, () => false);
      if (ok) accepted.push(state);
    }
    assert.deepEqual(accepted, [...TASK_STATES]);
    const { rows } = await ctx.pool.query<{ state: string }>(
      `SELECT s AS state FROM unnest($1::text[]) AS s WHERE celerity_state_order(s, 2147483647) >= celerity_state_order('SUCCESS', 0)`,
      [[...TASK_STATES]],
    );
    assert.deepEqual(new Set(rows.map((r) => r.state)), new Set(FINAL_STATES));
  });
});
