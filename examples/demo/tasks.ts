/**
 * The demo app: the tasks `npm start` runs, all on queue `demo`. An ordinary app module, loaded
 * through `celerity worker --app` like any user's; in a project of your own, import from
 * 'celerity' instead of the relative path.
 *
 *   npm run build && node dist/cli.js worker --app dist/examples/demo/tasks.js
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PermanentError, RetryableError, defineSchedule, defineTask, z } from '../../index.js';

/** Upper bound for `demo.fib`: the naive recursion is exponential, F(45) already takes seconds. */
export const FIB_MAX_N = 45;
/** Upper bound for `demo.sleep`, in seconds. */
export const SLEEP_MAX_S = 3600;

const noKwargs = z.object({}).strict();

export const add = defineTask({
  name: 'demo.add',
  queue: 'demo',
  args: z.tuple([z.number(), z.number()]),
  kwargs: noKwargs,
  description: 'Adds two numbers.',
  run: ([a, b]) => a + b,
});

/** One object of named fields (`input`): sent as Celery kwargs, `{"kwargs": {...}}` over HTTP. */
export const greet = defineTask({
  name: 'demo.greet',
  queue: 'demo',
  input: z.object({ name: z.string().min(1).max(100), shout: z.boolean().default(false) }),
  description: 'Greets {name}: one object of named fields, sent as kwargs.',
  run: ({ name, shout }) => ({ greeting: shout ? `HELLO, ${name.toUpperCase()}!` : `Hello, ${name}.` }),
});

export const echo = defineTask({
  name: 'demo.echo',
  queue: 'demo',
  args: z.array(z.unknown()),
  kwargs: z.record(z.string(), z.unknown()),
  description: 'Returns its arguments: {"args": [...], "kwargs": {...}}.',
  run: (args, kwargs) => ({ args, kwargs }),
});

export const sleepTask = defineTask({
  name: 'demo.sleep',
  queue: 'demo',
  args: z.tuple([z.number().min(0).max(SLEEP_MAX_S)]),
  kwargs: noKwargs,
  description: 'Waits the given number of seconds without blocking, then returns it.',
  async run([seconds], _kwargs, ctx) {
    await sleep(seconds * 1000, undefined, { signal: ctx.signal });
    return seconds;
  },
});

/** Fails on purpose; a PermanentError so that it is never retried. */
/** Upper bound for `demo.progress`'s steps. */
export const PROGRESS_MAX_STEPS = 1000;

export const progressTask = defineTask({
  name: 'demo.progress',
  queue: 'demo',
  args: z.tuple([z.number().int().min(1).max(PROGRESS_MAX_STEPS)]),
  kwargs: z.object({ stepMs: z.number().int().min(0).max(10_000).optional() }).strict(),
  description: 'Works through the given number of steps (200 ms each, or kwargs.stepMs), reporting progress and a line of output after each; returns the steps done.',
  async run([steps], { stepMs = 200 }, ctx) {
    ctx.logger.info('starting', { steps });
    for (let step = 1; step <= steps; step++) {
      await sleep(stepMs, undefined, { signal: ctx.signal });
      ctx.progress(step / steps, `step ${step} of ${steps}`);
      ctx.stream(`step ${step} done\n`);
    }
    return { steps };
  },
});

export const fail = defineTask({
  name: 'demo.fail',
  queue: 'demo',
  args: z.tuple([z.string()]),
  kwargs: noKwargs,
  description: 'Fails with the given message; never retried.',
  run([message]): never {
    throw new PermanentError(message);
  },
});

/** Fails (retryably) while fewer than n retries have happened, so it succeeds on attempt n + 1. */
export const flaky = defineTask({
  name: 'demo.flaky',
  queue: 'demo',
  args: z.tuple([z.number().int().min(0).max(100)]).rest(z.string()),
  kwargs: noKwargs,
  retry: { backoffMs: 200, backoffMaxMs: 2_000 },
  description:
    'Fails with a RetryableError on its first n attempts, then returns the attempt number (retries + 1): [n] or [n, message]. Shows retries with backoff.',
  run([failures, message], _kwargs, ctx) {
    if (ctx.retries < failures) throw new RetryableError(message ?? `flaky failure ${ctx.retries + 1} of ${failures}`);
    return ctx.retries + 1;
  },
});

/** F(0) = 0, F(1) = 1, by naive recursion: deliberately CPU-heavy (exponential). */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

export const fibTask = defineTask({
  name: 'demo.fib',
  queue: 'demo',
  args: z.tuple([z.number().int().min(0).max(FIB_MAX_N)]),
  kwargs: noKwargs,
  cpu: true,
  description: 'The n-th Fibonacci number by naive recursion (CPU-bound, runs in the thread pool).',
  run: ([n]) => fib(n),
});

/**
 * A periodic run, as the seed's Celery example has with `celery beat`: demo.add(2, 3) every 10
 * seconds, fired by the worker `npm start` runs (`celerity worker --beat`) or by `celerity beat`.
 */
export const addEveryTenSeconds = defineSchedule({ name: 'demo.add-every-10s', task: add, every: '10s', args: [2, 3] });
/** A chord's body in the README's tour: the header's results arrive as one list. */
export const sum = defineTask({
  name: 'demo.sum',
  queue: 'demo',
  args: z.tuple([z.array(z.number()).max(100_000)]),
  kwargs: noKwargs,
  description: 'Adds up a list of numbers: [[1, 2, 3]] → 6 (a chord body gets its header\'s results so).',
  run: ([numbers]) => numbers.reduce((total, n) => total + n, 0),
});
