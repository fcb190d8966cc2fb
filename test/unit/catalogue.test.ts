import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  Catalogue,
  checkArguments,
  formatIssues,
  type ArgumentCheck,
} from '../../shared/src/app/catalogue.js';
import { type TaskDefinition } from '../../shared/src/app/define-task.js';
import { FIB_MAX_N, SLEEP_MAX_S } from '../../examples/demo/tasks.js';
import { demoApp } from '../helpers/demo.js';

// The demo app, loaded as `--app` loads it (top-level await: the tests below are synchronous).
const catalogue = new Catalogue((await demoApp()).tasks);

function task(name: string): TaskDefinition {
  const definition = catalogue.get(name);
  assert.ok(definition, `catalogue has ${name}`);
  return definition;
}

function assertValid(check: ArgumentCheck, args: unknown[], kwargs: Record<string, unknown> = {}): void {
  assert.equal(check.ok, true, check.ok ? '' : formatIssues(check.issues));
  if (check.ok) {
    assert.deepEqual(check.args, args);
    assert.deepEqual(check.kwargs, kwargs);
  }
}

function assertInvalid(check: ArgumentCheck, path: string): void {
  assert.equal(check.ok, false, 'expected the arguments to be refused');
  if (!check.ok) {
    assert.ok(check.issues.length > 0);
    assert.ok(
      check.issues.some((i) => i.path === path),
      `expected an issue at ${path}, got ${formatIssues(check.issues)}`,
    );
  }
}

describe('catalogue: the demo tasks', () => {
  it('lists the demo tasks, all on queue demo, only demo.fib CPU-bound', () => {
    assert.deepEqual(catalogue.names().sort(), ['demo.add', 'demo.echo', 'demo.fail', 'demo.fib', 'demo.flaky', 'demo.greet', 'demo.progress', 'demo.sleep', 'demo.sum']);
    for (const name of catalogue.names()) assert.equal(task(name).queue, 'demo');
    assert.deepEqual(
      catalogue.names().filter((n) => task(n).cpu),
      ['demo.fib'],
    );
    assert.equal(catalogue.get('demo.nope'), undefined);
  });

  it('defaultQueues lists each queue once', () => {
    assert.deepEqual(catalogue.defaultQueues(), ['demo']);
  });
});

describe('catalogue: checkArguments', () => {
  it('demo.add takes exactly two numbers and no kwargs', () => {
    assertValid(checkArguments(task('demo.add'), [1, 2.5], {}), [1, 2.5]);
    assertInvalid(checkArguments(task('demo.add'), [1], {}), 'args');
    assertInvalid(checkArguments(task('demo.add'), [1, 2, 3], {}), 'args');
    assertInvalid(checkArguments(task('demo.add'), [], {}), 'args');
    assertInvalid(checkArguments(task('demo.add'), ['1', 2], {}), 'args.0');
    assertInvalid(checkArguments(task('demo.add'), [1, 2], { x: 1 }), 'kwargs');
    assertInvalid(checkArguments(task('demo.add'), { 0: 1, 1: 2 }, {}), 'args');
  });

  it('demo.echo takes anything JSON', () => {
    const args = [1, 'two', { three: [3] }, null];
    assertValid(checkArguments(task('demo.echo'), args, { k: 'v', n: { deep: true } }), args, { k: 'v', n: { deep: true } });
    assertValid(checkArguments(task('demo.echo'), [], {}), []);
    assertInvalid(checkArguments(task('demo.echo'), 'nope', {}), 'args');
    assertInvalid(checkArguments(task('demo.echo'), [], [1]), 'kwargs');
  });

  it('demo.sleep takes seconds from 0 to SLEEP_MAX_S', () => {
    assertValid(checkArguments(task('demo.sleep'), [0], {}), [0]);
    assertValid(checkArguments(task('demo.sleep'), [0.25], {}), [0.25]);
    assertValid(checkArguments(task('demo.sleep'), [SLEEP_MAX_S], {}), [SLEEP_MAX_S]);
    assertInvalid(checkArguments(task('demo.sleep'), [-0.5], {}), 'args.0');
    assertInvalid(checkArguments(task('demo.sleep'), [SLEEP_MAX_S + 1], {}), 'args.0');
    assertInvalid(checkArguments(task('demo.sleep'), ['1'], {}), 'args.0');
  });

  it('demo.fail takes one string', () => {
    assertValid(checkArguments(task('demo.fail'), ['boom'], {}), ['boom']);
    assertInvalid(checkArguments(task('demo.fail'), [42], {}), 'args.0');
    assertInvalid(checkArguments(task('demo.fail'), [], {}), 'args');
  });

  it('demo.fib takes a whole number from 0 to FIB_MAX_N', () => {
    assert.equal(FIB_MAX_N, 45);
    assertValid(checkArguments(task('demo.fib'), [0], {}), [0]);
    assertValid(checkArguments(task('demo.fib'), [FIB_MAX_N], {}), [FIB_MAX_N]);
    assertInvalid(checkArguments(task('demo.fib'), [FIB_MAX_N + 1], {}), 'args.0');
    assertInvalid(checkArguments(task('demo.fib'), [-1], {}), 'args.0');
    assertInvalid(checkArguments(task('demo.fib'), [2.5], {}), 'args.0');
    assertInvalid(checkArguments(task('demo.fib'), [10, 11], {}), 'args');
  });

  it('reports problems in args and kwargs together', () => {
    const check = checkArguments(task('demo.add'), ['a', 'b'], { extra: true });
    assert.equal(check.ok, false);
    if (!check.ok) {
      const paths = check.issues.map((i) => i.path).sort();
      assert.deepEqual(paths, ['args.0', 'args.1', 'kwargs']);
      const text = formatIssues(check.issues);
      assert.match(text, /^args\.0: .+; args\.1: .+; kwargs: .+$/);
    }
  });
});

describe('catalogue: Catalogue', () => {
  const def = (name: string, queue: string): TaskDefinition => ({
    name,
    queue,
    args: z.array(z.unknown()),
    kwargs: z.record(z.string(), z.unknown()),
    cpu: false,
    description: name,
  });

  it('refuses a task name declared twice', () => {
    assert.throws(() => new Catalogue([def('a.b', 'q1'), def('c.d', 'q1'), def('a.b', 'q2')]), /a\.b is declared twice/);
  });

  it('defaultQueues lists distinct queues in declaration order', () => {
    const c = new Catalogue([def('a', 'q1'), def('b', 'q2'), def('c', 'q1'), def('d', 'q3')]);
    assert.deepEqual(c.defaultQueues(), ['q1', 'q2', 'q3']);
    assert.deepEqual(c.names(), ['a', 'b', 'c', 'd']);
    assert.equal(c.get('b')?.queue, 'q2');
  });

  it('workerQueues leaves out the queues only external tasks use: a worker consumes what it can run', () => {
    const c = new Catalogue([def('a', 'q1'), { ...def('py.b', 'py'), external: true }, { ...def('py.c', 'q1'), external: true }]);
    assert.deepEqual(c.defaultQueues(), ['q1', 'py']);
    assert.deepEqual(c.workerQueues(), ['q1']);
  });
});
