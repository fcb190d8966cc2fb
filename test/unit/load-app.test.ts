/**
 * The app loader: every way an app module can be unusable is refused with a message naming the
 * file. Fixtures are written to a temporary directory and import the compiled root entry.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CelerityError, loadApp } from '../../index.js';

const ROOT_ENTRY = new URL('../../index.js', import.meta.url).href;

let dir: string;

/** Writes `name` into the fixture directory with `body` after an import of the root entry. */
async function fixture(name: string, body: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `import { defineTask, z } from ${JSON.stringify(ROOT_ENTRY)};\n${body}\n`);
  return file;
}

async function refused(modulePath: string, pattern: RegExp, options: { cwd?: string } = {}): Promise<CelerityError> {
  try {
    await loadApp(modulePath, options);
  } catch (err) {
    assert.ok(err instanceof CelerityError, `expected a CelerityError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_APP');
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`${modulePath} was loaded; expected it to be refused`);
}

describe('loadApp', () => {
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'celerity-load-app-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('collects named exports and a default array or object, each task once, resolving relative paths against cwd', async () => {
    await fixture(
      'named.mjs',
      `export const a = defineTask({ name: 'x.a', queue: 'q1', run: () => 1 });
       export const b = defineTask({ name: 'x.b', cpu: true, run: () => 2 });
       export const ext = defineTask({ name: 'py.c', queue: 'py', external: true });
       export const notATask = 42;
       export default { a, again: a };`,
    );
    const app = await loadApp('named.mjs', { cwd: dir });
    assert.equal(app.file, path.join(dir, 'named.mjs'));
    assert.ok(app.url.startsWith('file://'));
    assert.deepEqual(app.tasks.map((t) => [t.name, t.queue]), [['x.a', 'q1'], ['x.b', 'celery'], ['py.c', 'py']]);

    const array = await fixture('array.mjs', `export default [defineTask({ name: 'y.one', run: () => 1 }), defineTask({ name: 'y.two', run: () => 2 })];`);
    assert.deepEqual((await loadApp(array)).tasks.map((t) => t.name), ['y.one', 'y.two']);
    assert.deepEqual((await loadApp(new URL(`file://${array}`))).tasks.length, 2);
  });

  it('takes a file: URL whose path has escaped characters (a space is %20), as a string or a URL', async () => {
    await mkdir(path.join(dir, 'my app'), { recursive: true });
    const file = await fixture(path.join('my app', 'tasks.mjs'), `export const t = defineTask({ name: 'spaced.t', run: () => 1 });`);
    const url = pathToFileURL(file);
    assert.match(url.href, /my%20app\/tasks\.mjs$/);
    for (const given of [url.href, url]) {
      const app = await loadApp(given);
      assert.equal(app.file, file);
      assert.deepEqual(app.tasks.map((t) => t.name), ['spaced.t']);
    }
  });

  it('refuses a path that does not exist, naming it', async () => {
    await refused('missing/tasks.mjs', /missing\/tasks\.mjs: no such app module/, { cwd: dir });
  });

  it('refuses a directory', async () => {
    await refused(dir, /not a file/);
  });

  it('refuses a module that throws on import, showing the cause', async () => {
    const file = await fixture('throws.mjs', `throw new Error('database password missing');`);
    const err = await refused(file, /throws\.mjs: the app module failed to load: Error: database password missing/);
    assert.ok(err.cause instanceof Error);
  });

  it('refuses a module with a syntax error, showing the cause', async () => {
    const file = await fixture('syntax.mjs', `export const = ;`);
    await refused(file, /syntax\.mjs: the app module failed to load: SyntaxError/);
  });

  it('refuses a TypeScript file Node cannot run, saying to compile it', async () => {
    const file = path.join(dir, 'tasks.ts');
    await writeFile(file, "import { defineTask } from 'celerity';\nexport const t = defineTask({ name: 'ts.t', run: (): number => 1 });\n");
    await refused(file, /tasks\.ts: the app module failed to load \(compile TypeScript first/);
  });

  it('refuses a module whose defineTask is wrong, with defineTask’s message', async () => {
    const file = await fixture('bad-name.mjs', `export const t = defineTask({ name: 'has space', run: () => 1 });`);
    await refused(file, /bad-name\.mjs: .*defineTask\("has space"\): name must be/);
  });

  it('refuses a module with no tasks', async () => {
    const file = await fixture('empty.mjs', `export const answer = 42; export default { z };`);
    await refused(file, /empty\.mjs: exports no tasks/);
  });

  it('refuses two tasks with one name, naming both exports', async () => {
    const file = await fixture(
      'twice.mjs',
      `export const first = defineTask({ name: 'same.name', run: () => 1 });
       export default [defineTask({ name: 'same.name', queue: 'other', run: () => 2 })];`,
    );
    await refused(file, /twice\.mjs: two tasks are named "same\.name" \(exports (first and default\[0\]|default\[0\] and first)\)/);
  });

  it('refuses a task with no run unless it is external', async () => {
    const file = await fixture('no-run.mjs', `export const lazy = defineTask({ name: 'no.run', args: z.tuple([]) });`);
    await refused(file, /no-run\.mjs: task "no\.run" \(export lazy\) has no run function/);
  });
});
