/** The demo tasks of CONTRACT.md (queue `demo`); their schemas are in the shared catalogue. */
import { setTimeout as sleep } from 'node:timers/promises';
import { PermanentError, RetryableError } from '../../../shared/src/index.js';
import type { Implementation, TaskFn } from './context.js';
import { CPU_TASKS } from './cpu.js';

const add: TaskFn = (args) => Promise.resolve((args[0] as number) + (args[1] as number));

const echo: TaskFn = (args, kwargs) => Promise.resolve({ args, kwargs });

const sleepTask: TaskFn = async (args, _kwargs, ctx) => {
  const seconds = args[0] as number;
  await sleep(seconds * 1000, undefined, { signal: ctx.signal });
  return seconds;
};

/** Fails on purpose; a PermanentError so that it is never retried. */
const fail: TaskFn = (args) => Promise.reject(new PermanentError(String(args[0])));

/** Fails (retryably) while fewer than n retries have happened, so it succeeds on attempt n + 1. */
const flaky: TaskFn = (args, _kwargs, ctx) => {
  const failures = args[0] as number;
  if (ctx.retries < failures) {
    return Promise.reject(new RetryableError(typeof args[1] === 'string' ? args[1] : `flaky failure ${ctx.retries + 1} of ${failures}`));
  }
  return Promise.resolve(ctx.retries + 1);
};

export const DEMO_TASKS: ReadonlyMap<string, Implementation> = new Map<string, Implementation>([
  ['demo.add', { kind: 'async', run: add }],
  ['demo.echo', { kind: 'async', run: echo }],
  ['demo.sleep', { kind: 'async', run: sleepTask }],
  ['demo.fail', { kind: 'async', run: fail }],
  ['demo.flaky', { kind: 'async', run: flaky }],
  ...Object.keys(CPU_TASKS).map((name): [string, Implementation] => [name, { kind: 'cpu' }]),
]);
