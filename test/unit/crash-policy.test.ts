/**
 * The worker's policy for errors nobody caught (worker/src/crash-policy.ts) and the task scope
 * it relies on (task-scope.ts): a stray error fails the task whose code raised it and nothing
 * else; outside any task a rejection is logged, a throw is one line, a drain, an exit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { promisify } from 'node:util';
import { installCrashPolicy } from '../../worker/src/crash-policy.js';
import { TaskScope } from '../../worker/src/task-scope.js';
import { captureLogger } from '../helpers/harness.js';

const run = promisify(execFile);
const TASK_SCOPE = new URL('../../worker/src/task-scope.js', import.meta.url).href;

function policy(): { target: EventEmitter; entries: Record<string, unknown>[]; exits: number[]; policy: ReturnType<typeof installCrashPolicy> } {
  const { logger, capture } = captureLogger('worker');
  // Stands in for the process: the test emits what Node would.
  const target = new EventEmitter();
  const exits: number[] = [];
  return { target, entries: capture.entries, exits, policy: installCrashPolicy(target as unknown as NodeJS.Process, { logger, exit: (code) => exits.push(code) }) };
}

const stray = (scope: TaskScope): Promise<Error> => scope.stray.then(() => assert.fail('resolved'), (err: unknown) => err as Error);

describe('crash policy', () => {
  it('Node runs the handlers in the async context of the failing code: the task scope is visible there', async () => {
    // A real process: Node's own handler dispatch, not an emitter standing in for it.
    const script = `
      import { TaskScope, currentTaskScope } from ${JSON.stringify(TASK_SCOPE)};
      const seen = [];
      process.on('unhandledRejection', () => seen.push('rejection:' + (currentTaskScope()?.taskId ?? 'none')));
      process.on('uncaughtException', () => seen.push('exception:' + (currentTaskScope()?.taskId ?? 'none')));
      new TaskScope('a', 't', 'q').run(async () => { await null; void Promise.reject(new Error('x')); });
      new TaskScope('b', 't', 'q').run(() => setTimeout(() => { throw new Error('y'); }, 5));
      setTimeout(() => void Promise.reject(new Error('z')), 10);
      setTimeout(() => console.log(JSON.stringify(seen)), 50);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
    assert.deepEqual(JSON.parse(stdout) as unknown, ['rejection:a', 'exception:b', 'rejection:none']);
  });

  it('a rejection from a running task fails that task only, logged once with its id; the worker goes on', async () => {
    const { target, entries, exits, policy: installed } = policy();
    const mine = new TaskScope('id-1', 'app.float', 'q');
    const neighbour = new TaskScope('id-2', 'app.slow', 'q');
    mine.run(() => target.emit('unhandledRejection', new Error('x'), Promise.resolve()));
    assert.equal((await stray(mine)).message, 'x');
    assert.equal(neighbour.open, true, 'the neighbour still runs');
    assert.deepEqual(exits, []);
    assert.equal(entries.length, 1);
    assert.deepEqual([entries[0]?.level, entries[0]?.taskId, entries[0]?.task, entries[0]?.source], ['error', 'id-1', 'app.float', 'unhandledRejection']);
    installed.uninstall();
  });

  it('a throw from a running task’s timer fails it; after the task ended its stray errors change nothing', async () => {
    const { target, entries, exits } = policy();
    const scope = new TaskScope('id-3', 'app.timer', 'q');
    scope.run(() => target.emit('uncaughtException', new Error('from a timer'), 'uncaughtException'));
    assert.equal((await stray(scope)).message, 'from a timer');
    const ended = new TaskScope('id-4', 'app.done', 'q');
    ended.close();
    ended.run(() => target.emit('unhandledRejection', new Error('late'), Promise.resolve()));
    ended.run(() => target.emit('uncaughtException', new Error('late too'), 'uncaughtException'));
    assert.deepEqual(exits, [], 'never an exit for a task’s error');
    assert.deepEqual(entries.map((e) => [e.level, e.taskId]), [['error', 'id-3'], ['warn', 'id-4'], ['warn', 'id-4']]);
  });

  it('outside any task: a rejection is logged and ignored; a throw is one line, then a drain, then exit 1', async () => {
    const { target, entries, exits, policy: installed } = policy();
    target.emit('unhandledRejection', new Error('nobody awaited'), Promise.resolve());
    assert.deepEqual(exits, []);
    let drained!: () => void;
    let drains = 0;
    installed.drainWith(() => {
      drains++;
      return new Promise<void>((resolve) => (drained = resolve));
    });
    target.emit('uncaughtException', new Error('worker bug'), 'uncaughtException');
    assert.deepEqual([drains, exits], [1, []], 'the running tasks finish first');
    drained();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(exits, [1]);
    target.emit('uncaughtException', new Error('while draining'), 'uncaughtException');
    assert.deepEqual([drains, exits], [1, [1, 1]], 'a second one exits at once');
    const crash = entries.filter((e) => e.outcome === 'crash');
    assert.equal(crash.length, 2);
    assert.equal((crash[0]?.err as Error).message, 'worker bug');
  });
});
