/**
 * The package as a user gets it: `npm pack` of this repository as a release packs it, installed
 * into a temporary project outside it, an app module of that project's own, and the `celerity`
 * bin run as child processes (migrate, worker, gateway) against the real broker and database,
 * driven over HTTP.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { TEST_AMQP_URL, TEST_DATABASE_URL } from '../helpers/env.js';
import { http, waitFor, type Task } from '../helpers/harness.js';
import { REPO, cleanupPackageTest, packedProject, startChild, type Child, type Packed, type PackedProject } from '../helpers/packed.js';

const run = promisify(execFile);

const APP = (queue: string): string => `
import { PermanentError, defineTask, z } from 'celerity';

export const add = defineTask({
  name: 'pkg.add', queue: ${JSON.stringify(queue)},
  args: z.tuple([z.number(), z.number()]),
  run: ([a, b]) => a + b,
});

function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
export const fibTask = defineTask({
  name: 'pkg.fib', queue: ${JSON.stringify(queue)}, cpu: true,
  args: z.tuple([z.number().int().min(0).max(35)]),
  run: ([n]) => fib(n),
});

export const fail = defineTask({
  name: 'pkg.fail', queue: ${JSON.stringify(queue)},
  args: z.tuple([z.string()]),
  run([message]) { throw new PermanentError(message); },
});

export const cycle = defineTask({
  name: 'pkg.cycle', queue: ${JSON.stringify(queue)}, retry: { retryOn: 'any' },
  run() { const node = {}; node.self = node; return node; },
});
`;

/** A back-end script of the user's project: submits through createClient and prints what it got. */
const CLIENT_SCRIPT = `
import * as app from './tasks.mjs';
import { createClient, TaskFailedError } from 'celerity';
import * as clientEntry from 'celerity/client';
import { createHttpClient } from 'celerity/http';
const api = createHttpClient({ baseUrl: process.env.GATEWAY_URL });
const viaHttp = (await api.wait(await api.submit('pkg.add', [1, 2]), { timeoutS: 60 })).result;
const client = await createClient({ tasks: app });
const sum = await (await client.submit(app.add, [40, 2])).result({ timeoutMs: 60000 });
const fib = await (await client.submit(app.fibTask, [20])).result({ timeoutMs: 60000 });
let failure;
try { await (await client.submit(app.fail, ['no ink'])).result({ timeoutMs: 60000 }); } catch (err) { failure = err; }
let unknown;
try { await client.submit('pkg.nope', []); } catch (err) { unknown = err.code; }
await client.close();
await client.close();
console.log(JSON.stringify({
  sum, fib,
  failed: failure instanceof TaskFailedError, type: failure?.type, carriesMessage: String(failure?.message).includes('no ink'),
  unknown, subpath: typeof clientEntry.createClient === 'function' && clientEntry.TaskFailedError === TaskFailedError, viaHttp,
}));
`;

describe('the npm package', { timeout: 600_000 }, () => {
  const suffix = randomBytes(5).toString('hex');
  const queue = `test.pkg.${suffix}`;
  const schema = `t_pkg_${suffix}`;
  let installed: PackedProject | undefined;
  let dir: string;
  let packed: Packed;
  let bin: string;
  let env: NodeJS.ProcessEnv;
  const children: Child[] = [];

  before(async () => {
    installed = await packedProject();
    ({ dir, packed, bin } = installed);
    const project = installed.project;
    await writeFile(path.join(project, 'tasks.mjs'), APP(queue));
    env = {
      ...process.env,
      AMQP_URL: TEST_AMQP_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: schema,
      LOG_LEVEL: 'info',
      CELERITY_APP: '',
    };
  });

  after(async () => {
    await cleanupPackageTest({ children, schema, queues: [queue], project: installed });
  });

  it('ships the build, its declarations, the bin and the dashboard, and no tests, bench or sources', (t) => {
    const files = packed.files.map((f) => f.path);
    for (const needed of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'gateway/dashboard/index.html']) {
      assert.ok(files.includes(needed), `the tarball has ${needed}`);
    }
    const unwanted = files.filter((f) => /^(test|bench|examples|scripts|dist\/test|dist\/bench|dist\/examples)\//.test(f) || f.endsWith('.map') || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
    assert.deepEqual(unwanted, []);
    for (const file of files.filter((f) => f.startsWith('dist/') && f.endsWith('.js'))) {
      const source = file.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      assert.ok(existsSync(path.join(REPO, source)), `${file} has a source (${source}): no stale build output ships`);
    }
    t.diagnostic(`tarball ${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.entryCount} files`);
  });

  it('importing the package starts nothing: a script that only imports it exits by itself', async () => {
    const project = path.join(dir, 'project');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', "import * as c from 'celerity'; console.log(Object.keys(c).sort().join(' '))"], {
      cwd: project,
      timeout: 60_000,
    });
    for (const name of ['createClient', 'createGateway', 'createWorker', 'TaskFailedError', 'defineTask', 'loadApp', 'PermanentError', 'RetryableError', 'z']) assert.ok(stdout.split(' ').map((s) => s.trim()).includes(name), name);
  });

  it('celerity migrate, worker --app and gateway --app run the project’s own tasks', async (t) => {
    const project = path.join(dir, 'project');
    const migrated = await run(bin, ['migrate'], { cwd: project, env });
    assert.match(migrated.stdout, new RegExp(`migrated schema ${schema}`));

    const startedAt = Date.now();
    const worker = startChild(bin, ['worker', '--app', 'tasks.mjs', '--metrics-port', '0'], project, env);
    children.push(worker);
    await waitFor('the worker to consume', () => {
      if (worker.child.exitCode !== null) throw new Error(`worker exited early:\n${worker.output()}`);
      // The CLI's own line, logged once the worker is up (after the consumer's "consuming").
      return / consuming .+ with concurrency/.test(worker.output());
    }, { timeoutMs: 60_000 });
    t.diagnostic(`celerity worker --app: consuming ${Date.now() - startedAt} ms after spawn`);
    // Its default queues are those its app's tasks name.
    assert.match(worker.output(), new RegExp(`consuming ${queue.replace(/\./g, '\\.')} with concurrency`));

    const gateway = startChild(bin, ['gateway', '--app', './tasks.mjs', '--port', '0'], project, env);
    children.push(gateway);
    const port = await waitFor('the gateway to listen', () => {
      if (gateway.child.exitCode !== null) throw new Error(`gateway exited early:\n${gateway.output()}`);
      return /gateway listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(gateway.output())?.[1];
    }, { timeoutMs: 60_000 });
    const url = `http://127.0.0.1:${port}`;

    const submit = (name: string, args: unknown[]): Promise<{ status: number; body: Task }> =>
      http<Task>(`${url}/api/v1/tasks/${name}?wait=30`, { json: { args } });
    const settled = async (res: { status: number; body: Task }): Promise<Task> =>
      waitFor(`task ${res.body.id} to finish`, async () => {
        const current = await http<Task>(`${url}/api/v1/tasks/${res.body.id}`);
        return ['SUCCESS', 'FAILURE'].includes(current.body.state) ? current.body : undefined;
      }, { timeoutMs: 60_000 });

    const added = await settled(await submit('pkg.add', [40, 2]));
    assert.deepEqual([added.state, added.result, added.queue], ['SUCCESS', 42, queue]);
    const fib = await settled(await submit('pkg.fib', [20]));
    assert.deepEqual([fib.state, fib.result], ['SUCCESS', 6765]);
    const failed = await settled(await submit('pkg.fail', ['out of paper']));
    assert.deepEqual([failed.state, failed.error?.type, failed.error?.message, failed.retries], ['FAILURE', 'PermanentError', 'out of paper', 0]);
    const cycle = await settled(await submit('pkg.cycle', []));
    assert.deepEqual([cycle.state, cycle.error?.type, cycle.retries], ['FAILURE', 'ResultNotSerializableError', 0]);

    // Exactly the app's tasks: another app's name is unknown, and arguments follow the schemas.
    assert.equal((await http(`${url}/api/v1/tasks/demo.add`, { json: { args: [1, 2] } })).status, 404);
    assert.equal((await http(`${url}/api/v1/tasks/pkg.add`, { json: { args: ['one', 2] } })).status, 400);
    // It describes the project's tasks, and /docs has Swagger UI from the installed dependency.
    const described = await http<{ paths: Record<string, unknown> }>(`${url}/api/v1/openapi.json`);
    assert.ok('/api/v1/tasks/pkg.add' in described.body.paths && !('/api/v1/tasks/demo.add' in described.body.paths));
    assert.equal((await fetch(`${url}/docs/vendor/swagger-ui-bundle.js`)).status, 200);

    // The same tasks from Node, through createClient (no HTTP): typed by the app's definitions.
    await writeFile(path.join(project, 'client.mjs'), CLIENT_SCRIPT);
    const { stdout } = await run(process.execPath, ['client.mjs'], { cwd: project, env: { ...env, GATEWAY_URL: url }, timeout: 120_000 });
    const outcome = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    assert.deepEqual(outcome, {
      sum: 42,
      fib: 6765,
      failed: true,
      type: 'PermanentError',
      carriesMessage: true,
      unknown: 'UNKNOWN_TASK',
      subpath: true,
      viaHttp: 3,
    });
  });
});
