/**
 * The guide's path for task input, from the packed tarball in a new project: a TypeScript app
 * with a one-object task (`input: z.object(...)`), compiled by TypeScript 5.9 and 7 against the
 * package's published declarations; the task called over HTTP as `{"kwargs": {...}}`, through
 * the typed Node client (by task and by name), and from Python Celery as `delay(**kwargs)`. And
 * the tarball's package.json: it runs nothing on install and names no file it does not ship.
 * And the guide's tsx path: a `.ts` app with a CPU task, run by `NODE_OPTIONS='--import tsx'
 * npx celerity worker` with tsx installed in the project.
 */
import amqp from 'amqplib';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { TEST_AMQP_URL, TEST_DATABASE_URL } from '../helpers/env.js';
import { http, waitFor, type Task } from '../helpers/harness.js';
import { NPM, REPO, cleanupPackageTest, packedManifest, packedProject, repositoryManifest, startChild, type Child, type PackedProject } from '../helpers/packed.js';
import { runPythonClient } from '../helpers/python-celery.js';

const run = promisify(execFile);
const COMPILERS = [
  { label: 'TypeScript 5.9', tsc: path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc') },
  { label: 'TypeScript 7', tsc: path.join(REPO, 'node_modules', 'typescript-7', 'bin', 'tsc') },
];

/** The user's app, in TypeScript: one one-object task and one positional (Celery-style) task. */
const TASKS_TS = (queue: string): string => `
import { defineTask, z } from 'celerity';

export const resize = defineTask({
  name: 'pkg.resize',
  queue: ${JSON.stringify(queue)},
  input: z.object({ url: z.string(), width: z.number().int().positive(), fit: z.enum(['cover', 'contain']).default('cover') }),
  run({ url, width, fit }, ctx) {
    return { url, width, fit, height: Math.round(width * 0.75), task: ctx.name };
  },
});

export const add = defineTask({
  name: 'pkg.sum',
  queue: ${JSON.stringify(queue)},
  args: z.tuple([z.number(), z.number()]),
  run: ([a, b]) => a + b,
});
`;

/** The user's back-end code: typed calls through createClient, and errors the compiler must find. */
const CLIENT_TS = (queue: string): string => `
import * as app from './tasks.js';
import { CelerityError, createClient } from 'celerity';

const client = await createClient({ tasks: app });
const direct = await (await client.submit(app.resize, { url: 'https://e.x/a.png', width: 200 })).result({ timeoutMs: 60_000 });
const height: number = direct.height;
const byName = await (await client.submit('pkg.resize', { url: 'https://e.x/b.png', width: 40, fit: 'contain' })).result({ timeoutMs: 60_000 });
const sum: number = await (await client.submit('pkg.sum', [40, 2])).result({ timeoutMs: 60_000 });
const [many] = await client.submitMany([{ task: app.resize, input: { url: 'https://e.x/m.png', width: 4 } }]);
const fromMany = await many?.result({ timeoutMs: 60_000 });
let refused = '';
try {
  await client.submit('pkg.resize', { url: 'u' } as never);
} catch (err) {
  refused = err instanceof CelerityError ? err.code : String(err);
}
await client.close();

// Untyped, as Celery's send_task: one object goes as kwargs.
const untyped = await createClient();
const sent = await (await untyped.submit('pkg.resize', { url: 'https://e.x/c.png', width: 8 }, { queue: ${JSON.stringify(queue)} })).result({ timeoutMs: 60_000 });
await untyped.close();
console.log(JSON.stringify({ direct, height, byName, sum, fromMany, refused, sent }));

/** Never called: each line must not compile. */
export function typeErrors(): void {
  // @ts-expect-error width must be a number
  void client.submit(app.resize, { url: 'u', width: 'wide' });
  // @ts-expect-error no such task in the app
  void client.submit('pkg.nope', {});
  // @ts-expect-error the positional task takes numbers
  void client.submit('pkg.sum', ['1', 2]);
}
`;

/**
 * The guide's tsx path: a TypeScript app run as it is, with a CPU task (on a worker thread,
 * importing a module of the app by its `.js` name, as NodeNext code does) and an in-process one.
 */
const TSX_TASKS_TS = (queue: string): string => `
import { isMainThread } from 'node:worker_threads';
import { defineTask, z } from 'celerity';
import { fib } from './fib.js';

interface Where { onThread: boolean }

export const crunch = defineTask({
  name: 'pkg.tsx.fib',
  queue: ${JSON.stringify(queue)},
  cpu: true,
  input: z.object({ n: z.number().int().min(0).max(30) }),
  run: ({ n }): Where & { n: number; fib: number } => ({ n, fib: fib(n), onThread: !isMainThread }),
});

export const greet = defineTask({
  name: 'pkg.tsx.greet',
  queue: ${JSON.stringify(queue)},
  args: z.tuple([z.string()]),
  run: ([name]): Where & { greeting: string } => ({ greeting: \`hello \${name}\`, onThread: !isMainThread }),
});
`;

const TSX_FIB_TS = `
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
`;

/** The guide's tsconfig, as a user copies it. */
const TSCONFIG = { compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, outDir: 'dist' }, include: ['*.ts'] };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

describe('the packed package: one-object task input, typed calls, the published package.json', { timeout: 600_000 }, () => {
  const suffix = randomBytes(5).toString('hex');
  const queue = `test.pkgin.${suffix}`;
  const tsxQueue = `test.pkgin.tsx.${suffix}`;
  const schema = `t_pkgin_${suffix}`;
  let project: string;
  let pack: PackedProject | undefined;
  let manifestBefore: string;
  let env: NodeJS.ProcessEnv;
  let url: string;
  const children: Child[] = [];

  before(async () => {
    manifestBefore = await repositoryManifest();
    pack = await packedProject('celerity-pkgin-');
    project = pack.project;
    await writeFile(path.join(project, 'tasks.ts'), TASKS_TS(queue));
    await writeFile(path.join(project, 'client.ts'), CLIENT_TS(queue));
    await writeFile(path.join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    env = { ...process.env, AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema, LOG_LEVEL: 'info', CELERITY_APP: '' };
  });

  after(async () => {
    await cleanupPackageTest({ children, schema, queues: [queue, tsxQueue], project: pack });
  });

  it('ships a package.json with no scripts (nothing runs on install), and npm pack leaves the checkout’s own', async (t) => {
    assert.ok(pack);
    const manifest = await packedManifest(pack.tarball);
    assert.equal(manifest.name, 'celerity');
    assert.deepEqual(manifest.scripts, undefined, 'no prepare/start/test naming repository files');
    assert.ok(typeof manifest.bin === 'object' && manifest.exports, 'the rest of the manifest is kept');
    // The copy that was packed got its package.json back from the postpack script.
    assert.equal(await repositoryManifest(), manifestBefore);
    const packedSource = await run('cat', [path.join(pack.source, 'package.json')]);
    assert.equal(packedSource.stdout, manifestBefore);
    assert.doesNotMatch(pack.installOutput, /celerity@[^\s]* \((prepare|install|postinstall|preinstall)/);
    t.diagnostic(`tarball: ${pack.packed.size} bytes packed, ${pack.packed.unpackedSize} unpacked, ${pack.packed.entryCount} files`);
  });

  for (const compiler of COMPILERS) {
    it(`${compiler.label} compiles the app and the typed client against the published declarations, and finds each type error`, async () => {
      const outDir = `dist-${compiler.label.replace(/\D/g, '')}`;
      const { stdout } = await run(process.execPath, [compiler.tsc, '-p', 'tsconfig.json', '--outDir', outDir, '--pretty', 'false'], { cwd: project, timeout: 300_000 }).catch(
        (err: Error & { stdout?: string }) => {
          throw new Error(`${compiler.label} failed:\n${err.stdout ?? err.message}`, { cause: err });
        },
      );
      assert.equal(stdout.trim(), '');
    });
  }

  it('runs the one-object task over HTTP ({"kwargs": {...}}), refusing positional args with a hint', async () => {
    const bin = pack?.bin ?? '';
    await run(bin, ['migrate'], { cwd: project, env });
    const worker = startChild(bin, ['worker', '--app', 'dist-7/tasks.js', '--metrics-port', '0'], project, env);
    children.push(worker);
    const connection = await amqp.connect(TEST_AMQP_URL);
    try {
      await waitFor('the worker to consume', async () => {
        if (worker.child.exitCode !== null) throw new Error(`worker exited early:\n${worker.output()}`);
        // A check of a queue not declared yet closes the channel (404): one channel per look.
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        const info = await channel.checkQueue(queue).catch(() => undefined);
        if (info) await channel.close();
        return info !== undefined && info.consumerCount > 0;
      }, { timeoutMs: 60_000 });
    } finally {
      await connection.close().catch(() => undefined);
    }
    const port = await freePort();
    const gateway = startChild(bin, ['gateway', '--app', 'dist-7/tasks.js', '--port', String(port)], project, env);
    children.push(gateway);
    url = `http://127.0.0.1:${port}`;
    await waitFor('the gateway to be ready', async () => {
      if (gateway.child.exitCode !== null) throw new Error(`gateway exited early:\n${gateway.output()}`);
      return (await http(`${url}/readyz`).catch(() => ({ status: 0 }))).status === 200;
    }, { timeoutMs: 60_000 });

    const done = await http<Task>(`${url}/api/v1/tasks/pkg.resize?wait=30`, { json: { kwargs: { url: 'https://e.x/h.png', width: 100 } } });
    const task = done.body.state === 'SUCCESS' ? done.body : await waitFor('pkg.resize to finish', async () => {
      const current = await http<Task>(`${url}/api/v1/tasks/${done.body.id}`);
      return ['SUCCESS', 'FAILURE'].includes(current.body.state) ? current.body : undefined;
    }, { timeoutMs: 60_000 });
    assert.equal(task.state, 'SUCCESS', JSON.stringify(task));
    assert.deepEqual(task.args, []);
    assert.deepEqual(task.result, { url: 'https://e.x/h.png', width: 100, fit: 'cover', height: 75, task: 'pkg.resize' });

    const positional = await http<{ error: { code: string; message: string } }>(`${url}/api/v1/tasks/pkg.resize`, { json: { args: [{ url: 'u', width: 1 }] } });
    assert.equal(positional.status, 400);
    assert.match(positional.body.error.message, /send them as kwargs/);
    const wrong = await http<{ error: { code: string; message: string } }>(`${url}/api/v1/tasks/pkg.resize`, { json: { kwargs: { url: 'u', width: 'wide' } } });
    assert.equal(wrong.status, 400);
    assert.match(wrong.body.error.message, /kwargs\.width/);
  });

  it('runs it through the typed Node client, by task and by name, and untyped as send_task', async () => {
    assert.ok(url, 'the worker runs (previous test)');
    const { stdout } = await run(process.execPath, ['dist-7/client.js'], { cwd: project, env, timeout: 120_000 });
    const outcome = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    assert.deepEqual(outcome, {
      direct: { url: 'https://e.x/a.png', width: 200, fit: 'cover', height: 150, task: 'pkg.resize' },
      height: 150,
      byName: { url: 'https://e.x/b.png', width: 40, fit: 'contain', height: 30, task: 'pkg.resize' },
      sum: 42,
      fromMany: { url: 'https://e.x/m.png', width: 4, fit: 'cover', height: 3, task: 'pkg.resize' },
      refused: 'INVALID_ARGUMENTS',
      sent: { url: 'https://e.x/c.png', width: 8, fit: 'cover', height: 6, task: 'pkg.resize' },
    });
  });

  it('runs it from Python Celery: task.delay(url=..., width=...)', async () => {
    assert.ok(url, 'the worker runs');
    const [outcome] = await runPythonClient([{ task: 'pkg.resize', queue, kwargs: { url: 'https://e.x/p.png', width: 20 }, delay: true }]);
    assert.deepEqual(outcome, { ok: true, id: outcome?.id, state: 'SUCCESS', result: { url: 'https://e.x/p.png', width: 20, fit: 'cover', height: 15, task: 'pkg.resize' } });
    const stored = await http<Task>(`${url}/api/v1/tasks/${outcome?.id ?? ''}`);
    assert.deepEqual(stored.body.args, []);
    assert.deepEqual([stored.body.kwargs?.url, stored.body.kwargs?.width], ['https://e.x/p.png', 20]);
  });

  it("runs a TypeScript app's CPU task and in-process task under NODE_OPTIONS='--import tsx' npx celerity worker, with tsx installed in the project", async () => {
    assert.ok(pack);
    await mkdir(path.join(project, 'src'), { recursive: true });
    await writeFile(path.join(project, 'src', 'tasks.ts'), TSX_TASKS_TS(tsxQueue));
    await writeFile(path.join(project, 'src', 'fib.ts'), TSX_FIB_TS);
    await run(NPM, ['install', '-D', 'tsx', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: project, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
    const tsxEnv = { ...env, NODE_OPTIONS: '--import tsx' };
    // npx runs the bin as a child of its own: each is stopped with its process group.
    const worker = startChild('npx', ['celerity', 'worker', '--app', 'src/tasks.ts', '--metrics-port', '0'], project, tsxEnv, { group: true });
    children.push(worker);
    await waitFor('the tsx worker to consume', () => {
      if (worker.child.exitCode !== null) throw new Error(`worker exited early:\n${worker.output()}`);
      return / consuming .+ with concurrency/.test(worker.output());
    }, { timeoutMs: 90_000 });
    const gateway = startChild('npx', ['celerity', 'gateway', '--app', 'src/tasks.ts', '--port', '0'], project, tsxEnv, { group: true });
    children.push(gateway);
    const port = await waitFor('the tsx gateway to listen', () => {
      if (gateway.child.exitCode !== null) throw new Error(`gateway exited early:\n${gateway.output()}`);
      return /gateway listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(gateway.output())?.[1];
    }, { timeoutMs: 90_000 });
    const tsxUrl = `http://127.0.0.1:${port}`;

    const crunched = await http<Task>(`${tsxUrl}/api/v1/tasks/pkg.tsx.fib?wait=60`, { json: { kwargs: { n: 20 } } });
    assert.deepEqual([crunched.status, crunched.body.state, crunched.body.queue], [200, 'SUCCESS', tsxQueue], JSON.stringify(crunched.body));
    assert.deepEqual(crunched.body.result, { n: 20, fib: 6765, onThread: true });
    const greeted = await http<Task>(`${tsxUrl}/api/v1/tasks/pkg.tsx.greet?wait=60`, { json: { args: ['Ada'] } });
    assert.deepEqual([greeted.status, greeted.body.state], [200, 'SUCCESS'], JSON.stringify(greeted.body));
    assert.deepEqual(greeted.body.result, { greeting: 'hello Ada', onThread: false });
    assert.doesNotMatch(worker.output(), /Unknown file extension/);
  });
});
