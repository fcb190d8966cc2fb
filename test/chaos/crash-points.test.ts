/**
 * Chaos, part two: `?wait=` callers while a worker dies at an exact point of settling a task
 * (CELERITY_FAULT_POINT: after its reply, after its commit). They touch no service: they kill only
 * the worker processes they start, and can be run alone (`--test-name-pattern 'killed after'`).
 * Each prints one line, as the rest of the chaos suite does (test-artifacts/chaos-crash-points.json).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { completedCount, writeRows, type ChaosRow } from '../helpers/chaos.js';
import { TestContext, http, waitFor, type Task, type WorkerProcess } from '../helpers/harness.js';

const rows: ChaosRow[] = [];

after(() => writeRows('chaos-crash-points.json', rows));

/** `?wait=` callers per crash-point case. */
const WAITERS = 20;

/** What the callers of one crash-point case saw, and which worker answered them. */
interface CrashRun {
  ctx: TestContext;
  ids: string[];
  /** Worker name of the process that died (`celerity@host:pid`). */
  victim: string;
  /** The ids whose `?wait=` answer came from the worker that died. */
  caught: string[];
  replacement: WorkerProcess;
}

/**
 * WAITERS `?wait=` submits of demo.add through one gateway, with a worker (concurrency 1, so it
 * settles one task at a time and nothing else moves while it dies) that kills itself at `point`
 * of settling its first task; once it is dead a worker without the fault starts. Checks what
 * holds at every point: each caller gets 200 SUCCESS with its result, a GET on the same gateway
 * right after each 200 never shows an earlier state, and every task ends SUCCESS in the store.
 */
async function crashDuringWaits(point: 'after-reply' | 'after-commit', ctx: TestContext): Promise<CrashRun> {
  const queue = ctx.queue(`crash-${point}`);
  const { url } = await ctx.startGateway();
  const victim = await ctx.spawnWorker([queue], { WORKER_CONCURRENCY: '1', CELERITY_FAULT_POINT: point });
  const victimName = `celerity@${hostname()}:${victim.child.pid}`;
  const earlier: string[] = [];
  const calls = Array.from({ length: WAITERS }, async (_, i) => {
    const answer = await http<Task>(`${url}/api/v1/tasks/demo.add?wait=60`, { json: { args: [i, 1000], options: { queue } } });
    if (answer.status !== 200) return answer;
    const read = await http<Task>(`${url}/api/v1/tasks/${answer.body.id}`);
    if (read.status !== 200 || read.body.state !== 'SUCCESS' || read.body.result !== answer.body.result) {
      earlier.push(`${answer.body.id}: answered ${answer.body.state}, then GET ${read.status} ${read.body.state}`);
    }
    return answer;
  });
  const exit = await victim.exited;
  assert.equal(exit.signal, 'SIGKILL', `the worker killed itself at ${point}:\n${victim.output().slice(-2000)}`);
  assert.match(victim.output(), /CELERITY_FAULT_POINT: killing the worker/);
  const replacement = await ctx.spawnWorker([queue], { WORKER_CONCURRENCY: '4' });
  const answers = await Promise.all(calls);
  assert.deepEqual(
    answers.map((a) => [a.status, a.body.state, a.body.result]),
    answers.map((_, i) => [200, 'SUCCESS', i + 1000]),
    'every ?wait= caller got its result',
  );
  assert.deepEqual(earlier, [], 'a GET on the gateway that answered never showed an earlier state');
  const ids = answers.map((a) => a.body.id);
  await waitFor('every task to be SUCCESS in the store', async () => (await completedCount(ctx, ids)) === ids.length, { timeoutMs: 60_000, everyMs: 100 });
  const caught = answers.filter((a) => a.body.worker === victimName).map((a) => a.body.id);
  // Concurrency 1: the worker died settling its first task, and that caller had its answer.
  assert.equal(caught.length, 1, `one caller was answered by the worker that died: ${JSON.stringify(answers.map((a) => a.body.worker))}`);
  return { ctx, ids, victim: victimName, caught, replacement };
}

/** Whether `worker` logged `message` about task `id` (its JSON lines). */
function logged(worker: WorkerProcess, id: string, message: string): boolean {
  return worker.output().split('\n').some((line) => line.includes(`"message":"${message}"`) && line.includes(`"taskId":"${id}"`));
}

/** Rows (final state, worker) of `ids`. */
async function finalRows(ctx: TestContext, ids: readonly string[]): Promise<Map<string, { state: string; worker: string | null; result: unknown }>> {
  const { rows: r } = await ctx.pool.query<{ id: string; state: string; worker: string | null; result: unknown }>('SELECT id, state, worker, result FROM tasks WHERE id = ANY($1::text[])', [ids]);
  return new Map(r.map((row) => [row.id, row]));
}

describe('chaos: a worker killed while settling a task (CELERITY_FAULT_POINT)', () => {
  it('a worker killed after the reply, before the commit: the callers keep their answers, the caught task runs again, nothing is lost', async (t) => {
    const ctx = await TestContext.create();
    try {
      const started = Date.now();
      const run = await crashDuringWaits('after-reply', ctx);
      const stored = await finalRows(ctx, run.ids);
      // The worker that answered never committed: the task ran again on the replacement, which recorded it.
      const ranAgain = run.caught.filter((id) => stored.get(id)?.worker !== run.victim);
      assert.deepEqual(ranAgain, run.caught, 'the task caught between reply and commit ran again');
      for (const id of run.caught) assert.equal(stored.get(id)?.state, 'SUCCESS');
      rows.push({ scenario: 'worker killed after the reply, before the commit', submitted: WAITERS, completed: stored.size, lost: WAITERS - stored.size, duplicated: ranAgain.length, rejected503: 0, seconds: Math.round((Date.now() - started) / 100) / 10, note: `${WAITERS} ?wait= callers, all 200 SUCCESS; GET after each 200 never earlier` });
      t.diagnostic(`chaos killed after the reply: ${WAITERS} ?wait= answered 200 SUCCESS, ${stored.size} SUCCESS in the store, ${ranAgain.length} ran again (the one caught between reply and commit)`);
    } finally {
      await ctx.cleanup();
    }
  });

  it('a worker killed after the commit, before the ack: the redelivered copy is answered from the store, nothing runs again or is lost', async (t) => {
    const ctx = await TestContext.create();
    try {
      const started = Date.now();
      const run = await crashDuringWaits('after-commit', ctx);
      const stored = await finalRows(ctx, run.ids);
      for (const id of run.caught) assert.equal(stored.get(id)?.worker, run.victim, 'committed by the worker that died');
      // Its message was never acked: the replacement got it again and answered it from the store.
      await waitFor('the redelivered copy to be answered from the store', () =>
        run.caught.every((id) => logged(run.replacement, id, 'redelivered task already finished; not running it again')),
      );
      const ranAgain = run.caught.filter((id) => logged(run.replacement, id, 'task succeeded'));
      assert.deepEqual(ranAgain, [], 'the task committed by the worker that died did not run again');
      rows.push({ scenario: 'worker killed after the commit, before the ack', submitted: WAITERS, completed: stored.size, lost: WAITERS - stored.size, duplicated: 0, rejected503: 0, seconds: Math.round((Date.now() - started) / 100) / 10, note: `${WAITERS} ?wait= callers, all 200 SUCCESS; the redelivered copy answered from the store` });
      t.diagnostic(`chaos killed after the commit: ${WAITERS} ?wait= answered 200 SUCCESS, ${stored.size} SUCCESS in the store, none ran again`);
    } finally {
      await ctx.cleanup();
    }
  });
});
