/** defineTask: definitions are checked when defined, and any Standard Schema v1 validator works. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CelerityError, DEFAULT_TASK_QUEUE, defineTask, externalTask, isTask, z, type StandardSchemaV1 } from '../../index.js';
import { checkArguments } from '../../shared/src/index.js';

function refused(make: () => unknown, pattern: RegExp): void {
  assert.throws(make, (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_TASK_DEFINITION' && pattern.test(err.message));
}

describe('defineTask', () => {
  it('fills the defaults and returns a frozen, recognisable task', () => {
    const task = defineTask({ name: 'a.b', run: () => 1 });
    assert.equal(task.queue, DEFAULT_TASK_QUEUE);
    assert.equal(task.cpu, false);
    assert.equal(task.description, '');
    assert.ok(isTask(task));
    assert.ok(Object.isFrozen(task));
    assert.ok(checkArguments(task, [1, 'x'], { k: true }).ok, 'no schema: any args and kwargs');
  });

  it('refuses a name that is not a dotted identifier, naming the task and the rule', () => {
    for (const name of ['', 'has space', '.lead', 'trail.', 'a..b', '1abc', 'x'.repeat(201)]) {
      refused(() => defineTask({ name, run: () => 1 }), /name must be dot-separated words/);
    }
    refused(() => defineTask({ name: 42 as unknown as string, run: () => 1 }), /defineTask\(\?\)/);
    assert.equal(defineTask({ name: 'proj.tasks.add_2-x', run: () => 1 }).name, 'proj.tasks.add_2-x');
  });

  it('refuses an invalid queue name', () => {
    refused(() => defineTask({ name: 'a.b', queue: 'amq.reserved', run: () => 1 }), /defineTask\("a\.b"\): queue "amq\.reserved" is not a valid queue name/);
    refused(() => defineTask({ name: 'a.b', queue: '', run: () => 1 }), /queue "" is not a valid queue name/);
  });

  it('refuses schemas that are not schemas, a run that is not a function, bad time limits, external with run or cpu', () => {
    refused(() => defineTask({ name: 'a.b', args: { parse: () => [] } as never, run: () => 1 }), /args must be a zod schema/);
    refused(() => defineTask({ name: 'a.b', kwargs: 'x' as never, run: () => 1 }), /kwargs must be a zod schema/);
    refused(() => defineTask({ name: 'a.b', run: 'nope' as never }), /run must be a function/);
    refused(() => defineTask({ name: 'a.b', timeLimitS: 0, run: () => 1 }), /timeLimitS must be a positive number/);
    refused(() => defineTask({ name: 'a.b', softTimeLimitS: Number.NaN, run: () => 1 }), /softTimeLimitS must be a positive number/);
    refused(() => defineTask({ name: 'a.b', external: true, run: () => 1 }), /an external task has no run/);
    refused(() => defineTask({ name: 'a.b', external: true, cpu: true }), /cannot be cpu: true/);
  });

  it('validates with zod, and with any synchronous Standard Schema v1 validator', () => {
    const zodTask = defineTask({ name: 'z.t', args: z.tuple([z.number().int()]), kwargs: z.object({ n: z.string().default('x') }), run: () => 1 });
    const ok = checkArguments(zodTask, [3], {});
    assert.ok(ok.ok && ok.kwargs.n === 'x', 'defaults from the schema apply');
    assert.ok(!checkArguments(zodTask, [3.5], {}).ok);

    // A hand-written validator, as valibot or arktype expose one.
    const positive: StandardSchemaV1<unknown[], [number]> = {
      '~standard': {
        version: 1,
        vendor: 'hand',
        validate: (value) =>
          Array.isArray(value) && value.length === 1 && typeof value[0] === 'number' && value[0] > 0
            ? { value: [value[0]] }
            : { issues: [{ message: 'expected one positive number', path: [0] }] },
      },
    };
    const handTask = defineTask({ name: 'h.t', args: positive, run: ([n]) => n * 2 });
    assert.ok(checkArguments(handTask, [2], {}).ok);
    const bad = checkArguments(handTask, [-1], {});
    assert.ok(!bad.ok && bad.issues[0]?.path === 'args.0' && bad.issues[0].message === 'expected one positive number');
  });

  it('externalTask makes a task with no run that takes any arguments', () => {
    const task = externalTask('py.report', 'reports');
    assert.equal(task.external, true);
    assert.equal(task.run, undefined);
    assert.equal(task.queue, 'reports');
    assert.ok(checkArguments(task, [1, { a: 2 }], { k: [] }).ok);
  });
});
