/**
 * collectTasks: the one rule for which values of an app are tasks, used by loadApp, the worker's
 * threads and createClient({ tasks }). The client used to have its own rule (any array or object
 * export, no duplicate check), so the same app meant different tasks to a worker and a client.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CelerityError, defineTask, externalTask } from '../../index.js';
import { collectTasks } from '../../shared/src/app/collect-tasks.js';
import { Client } from '../../shared/src/client/client.js';

const a = defineTask({ name: 'app.a', run: () => 1 });
const b = defineTask({ name: 'app.b', run: () => 2 });
const c = externalTask('app.c', 'py');

function names(source: Parameters<typeof collectTasks>[0]): string[] {
  return collectTasks(source, 'app.mjs')
    .map((t) => t.name)
    .sort();
}

function invalidApp(make: () => unknown, pattern: RegExp): void {
  assert.throws(make, (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_APP' && pattern.test(err.message));
}

describe('collectTasks', () => {
  it('takes named task exports and a default array or object of tasks, each once', () => {
    assert.deepEqual(names({ a, default: [a, b] }), ['app.a', 'app.b']);
    assert.deepEqual(names({ default: { a, c } }), ['app.a', 'app.c']);
    assert.deepEqual(names([a, b, a]), ['app.a', 'app.b']);
    assert.deepEqual(names(new Set([c])), ['app.c']);
  });

  it('ignores arrays and objects under other export names, and values that are not tasks', () => {
    assert.deepEqual(names({ a, others: [b], more: { c }, n: 3, s: 'x', nil: null }), ['app.a']);
  });

  it('refuses two definitions with one name, an app with no task, a task with no run that is not external', () => {
    invalidApp(() => collectTasks({ a, other: defineTask({ name: 'app.a', run: () => 3 }) }, 'app.mjs'), /two tasks are named "app\.a" \(exports a and other\)/);
    invalidApp(() => collectTasks({ x: 1 }, 'app.mjs'), /app\.mjs: exports no tasks/);
    invalidApp(() => collectTasks([defineTask({ name: 'app.d' })], 'createClient({ tasks })'), /createClient\(\{ tasks \}\): task "app\.d" \(export \[0\]\) has no run function/);
  });

  it('finds the same tasks in any arrangement of the same definitions (property)', () => {
    const pool = [a, b, c];
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 8 }), fc.boolean(), (picks, asObject) => {
        const chosen = picks.map((i) => pool[i] as (typeof pool)[number]);
        const expected = [...new Set(chosen.map((t) => t.name))].sort();
        const source = asObject ? { default: Object.fromEntries(chosen.map((t, i) => [`t${i}`, t])) } : chosen;
        assert.deepEqual(names(source), expected);
      }),
    );
  });

  it('is the rule createClient applies to its tasks: two tasks with one name are refused before connecting', async () => {
    const twin = defineTask({ name: 'app.a', run: () => 3 });
    await assert.rejects(
      Client.create({ tasks: { a, twin }, amqpUrl: 'amqp://127.0.0.1:1', env: {} }),
      (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_APP' && /two tasks are named "app\.a"/.test(err.message),
    );
  });
});
