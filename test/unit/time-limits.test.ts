/**
 * A task's time limits (worker/src/pipeline/time-limits.ts) and the run step that arms them
 * (run.ts), on mocked timers: the limits and `startedAt` count from when the task executes —
 * for a CPU task, when a pool thread takes it, never while it waits for one.
 */
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { newTaskMessage } from '../../shared/src/broker/protocol.js';
import { type TaskDefinition } from '../../shared/src/app/define-task.js';
import type { Admitted } from '../../worker/src/pipeline/admit.js';
import { runTask, type RunDeps, type RunOutcome } from '../../worker/src/pipeline/run.js';
import { TimeLimits } from '../../worker/src/pipeline/time-limits.js';
import { currentTaskScope } from '../../worker/src/task-scope.js';
import type { CpuSignals } from '../../worker/src/thread-pool.js';

const log = createSilentLogger();

/** Lets the promises that mocked timers resolved run on (setImmediate is not mocked). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Advances the mocked clock by `ms` in 10 ms steps, letting promises run between steps. */
async function advance(ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 10) {
    mock.timers.tick(Math.min(10, left));
    await settle();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function admitted(patch: Partial<Admitted> = {}): Admitted {
  const definition = { name: 't.cpu', queue: 'q', cpu: true, run: () => undefined } as unknown as TaskDefinition;
  return { kind: 'run', definition, run: () => undefined, cpuAppUrl: 'file:///app.js', args: [], kwargs: {}, attempts: 1, deliveries: 1, ...patch };
}

/** A pool with one thread, busy for `waitMs` before it takes the job, which then runs `runMs`. */
function pool(waitMs: number, runMs: number): RunDeps['pool'] {
  return {
    async run(_request: unknown, signals: CpuSignals): Promise<unknown> {
      // A mocked 0 ms timer fires on the next tick() only: no wait is no timer.
      if (waitMs > 0) await sleep(waitMs);
      signals.onStart?.(Date.now());
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, runMs);
        signals.hard.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signals.hard.reason as Error);
        });
      });
      return 'done';
    },
  };
}

async function runWith(task: Admitted, deps: RunDeps, totalMs: number, timelimit: [number | null, number | null] = [null, null]): Promise<RunOutcome> {
  const message = { ...newTaskMessage({ id: 'id-1', name: 't.cpu', args: [], kwargs: {} }), timelimit };
  const running = runTask(task, message, 'q', new AbortController().signal, deps, log);
  await advance(totalMs);
  return running;
}

describe('time limits', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
  afterEach(() => mock.timers.reset());

  it('count nothing before start(): then the soft limit fires the task signal, the hard one both signals', async () => {
    const limits = new TimeLimits(new AbortController().signal, 1, 0.5);
    await advance(10_000);
    assert.equal(limits.taskSignal.aborted, false, 'no limit runs before the task executes');
    limits.start();
    await advance(490);
    assert.equal(limits.taskSignal.aborted, false);
    await advance(10);
    assert.equal((limits.taskSignal.reason as Error).name, 'SoftTimeLimitExceeded');
    assert.equal(limits.hardSignal.aborted, false, 'the soft limit leaves the thread alone');
    await advance(500);
    assert.equal((limits.hardSignal.reason as Error).name, 'TimeLimitExceeded');
    limits.clear();
  });

  it('race() rejects at the hard limit even if the task never settles; explain() names the limit', async () => {
    const limits = new TimeLimits(new AbortController().signal, 0.2, null);
    limits.start();
    const raced = limits.race(new Promise(() => undefined)).then(() => assert.fail('settled'), (e: unknown) => e as Error);
    await advance(200);
    const err = await raced;
    assert.equal(limits.explain(err).name, 'TimeLimitExceeded');
    limits.clear();
  });

  it('shutdown aborts both signals, started or not; after clear() a start arms nothing', async () => {
    const shutdown = new AbortController();
    const limits = new TimeLimits(shutdown.signal, 0.1, null);
    shutdown.abort(new Error('stopping'));
    assert.equal(limits.taskSignal.aborted && limits.hardSignal.aborted, true);
    const idle = new TimeLimits(new AbortController().signal, 0.1, 0.05);
    idle.clear();
    idle.start();
    await advance(1_000);
    assert.equal(idle.taskSignal.aborted, false);
  });
});

describe('run step', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
  afterEach(() => mock.timers.reset());

  it('a CPU task waiting for a thread is not timed: it runs its whole limit once it has one, and startedAt is that moment', async () => {
    await fc.assert(
      // Multiples of the 10 ms step of advance(), so each timer fires on its exact time.
      fc.asyncProperty(fc.integer({ min: 0, max: 500 }).map((n) => n * 10), fc.integer({ min: 0, max: 98 }).map((n) => n * 10), async (waitMs, runMs) => {
        const t0 = Date.now();
        const outcome = await runWith(admitted(), { pool: pool(waitMs, runMs), timeLimitS: 1 }, waitMs + runMs + 20);
        assert.equal(outcome.kind, 'returned', `waited ${waitMs} ms, ran ${runMs} ms, limit 1 s`);
        assert.equal(outcome.startedAt.getTime() - t0, waitMs);
      }),
      { numRuns: 25 },
    );
  });

  it('a CPU task that executes past its limit fails TimeLimitExceeded, however short its wait', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 300 }).map((n) => n * 10), async (waitMs) => {
        const outcome = await runWith(admitted(), { pool: pool(waitMs, 5_000), timeLimitS: 60 }, waitMs + 1_020, [1, null]);
        assert.ok(outcome.kind === 'threw');
        assert.equal(outcome.error.name, 'TimeLimitExceeded');
      }),
      { numRuns: 10 },
    );
  });

  it('a soft limit reaches the task only once it has its thread', async () => {
    let signal: AbortSignal | undefined;
    const deps: RunDeps = {
      timeLimitS: 60,
      pool: {
        async run(_request: unknown, signals: CpuSignals) {
          signal = signals.task;
          await sleep(2_000);
          assert.equal(signals.task.aborted, false, 'no soft signal while waiting for a thread');
          signals.onStart?.(Date.now());
          await sleep(600);
          return signals.task.aborted;
        },
      },
    };
    const outcome = await runWith(admitted(), deps, 2_700, [null, 0.5]);
    assert.ok(outcome.kind === 'returned');
    assert.equal(outcome.value, true, 'the soft signal fired 0.5 s after the start');
    assert.equal((signal?.reason as Error).name, 'SoftTimeLimitExceeded');
  });

  it('an in-process task is timed from its call, and a stray error charged to its scope fails it', async () => {
    const strayTask = admitted({
      cpuAppUrl: undefined,
      run: () => {
        // What the crash policy does with a rejection this task left unhandled.
        currentTaskScope()?.fail(new Error('left behind'));
        return new Promise(() => undefined);
      },
    });
    const failed = await runWith(strayTask, { pool: pool(0, 0), timeLimitS: 60 }, 20);
    assert.ok(failed.kind === 'threw');
    assert.equal(failed.error.message, 'left behind');
    const slow = admitted({ cpuAppUrl: undefined, run: () => sleep(5_000) });
    const limited = await runWith(slow, { pool: pool(0, 0), timeLimitS: 60 }, 1_020, [1, null]);
    assert.ok(limited.kind === 'threw');
    assert.equal(limited.error.name, 'TimeLimitExceeded');
  });
});
