/** defineTask: definitions are checked when defined, and any Standard Schema v1 validator works. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CelerityError, DEFAULT_TASK_QUEUE, defineTask, externalTask, isTask, z, type StandardSchemaV1 } from '../../index.js';
import { checkArguments } from '../../shared/src/app/catalogue.js';

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

  it('refuses, when defined, an args schema that can never take an array, naming the task and the fix', () => {
    const objectArgs = [
      z.object({ url: z.string(), width: z.number() }),
      z.object({ url: z.string() }).optional(),
      z.object({ url: z.string() }).default({ url: 'x' }),
      z.record(z.string(), z.number()),
      z.union([z.object({ a: z.string() }), z.string()]),
      z.object({ a: z.string() }).transform((o) => [o]),
    ];
    for (const args of objectArgs) {
      refused(() => defineTask({ name: 'img.resize', args: args as never, run: () => 1 }), /defineTask\("img\.resize"\): the args schema can never accept an array: .*input: z\.object\(\{\.\.\.\}\) and run\(input, ctx\)/);
    }
    // Schemas that may take an array, or whose shape cannot be told, are accepted.
    for (const args of [z.tuple([]), z.array(z.number()), z.union([z.tuple([z.string()]), z.object({})]), z.any(), z.tuple([z.string()]).optional()]) {
      assert.ok(isTask(defineTask({ name: 'a.b', args: args as never, run: () => 1 })));
    }
    refused(() => defineTask({ name: 'a.b', kwargs: z.array(z.string()) as never, run: () => 1 }), /the kwargs schema can never accept an object/);
    refused(() => defineTask({ name: 'a.b', input: z.tuple([z.string()]) as never, run: () => 1 }), /the input schema can never accept an object: .*args: z\.tuple/);
    refused(() => defineTask({ name: 'a.b', input: z.object({}), args: z.tuple([]), run: () => 1 } as never), /give input \(one object\), or args and kwargs/);
    refused(() => defineTask({ name: 'a.b', input: 'x' as never, run: () => 1 }), /input must be a zod schema/);
  });

  it('a one-object task takes its input as kwargs, no positional args, and run gets the input', async () => {
    const seen: unknown[] = [];
    const resize = defineTask({
      name: 'img.resize',
      input: z.object({ url: z.string(), width: z.number().int(), fit: z.string().default('cover') }),
      run: (input, ctx) => {
        seen.push(input, ctx.id);
        return input.width * 2;
      },
    });
    assert.equal(resize.style, 'input');
    const ok = checkArguments(resize, [], { url: 'u', width: 3 });
    assert.ok(ok.ok);
    assert.deepEqual(ok.kwargs, { url: 'u', width: 3, fit: 'cover' });
    // The worker calls every task as run(args, kwargs, ctx).
    const ctx = { id: 't1' } as Parameters<NonNullable<typeof resize.run>>[2];
    assert.equal(await resize.run?.([], ok.kwargs, ctx), 6);
    assert.deepEqual(seen, [{ url: 'u', width: 3, fit: 'cover' }, 't1']);
    const positional = checkArguments(resize, [{ url: 'u', width: 3 }], {});
    assert.ok(!positional.ok);
    assert.ok(positional.issues.some((i) => i.path === 'args' && /send them as kwargs/.test(i.message)), JSON.stringify(positional.issues));
    const missing = checkArguments(resize, [], { url: 'u' });
    assert.ok(!missing.ok && missing.issues.some((i) => i.path === 'kwargs.width'));
    assert.equal(defineTask({ name: 'a.b', args: z.tuple([]), run: () => 1 }).style, 'args');
  });
});
