/**
 * The guide's operations path from the packed tarball (issue 21, items 5 and 8): two workers on
 * one host with default flags (each app queue its own worker, no `celerity migrate` first: the
 * first start migrates), then `celerity call … --wait`, `call` + `result`, `status --json`
 * and `purge`, each as a user runs them from their project.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { TEST_AMQP_URL, TEST_DATABASE_URL } from '../helpers/env.js';
import { waitFor } from '../helpers/harness.js';
import { cleanupPackageTest, packedProject, startChild, type Child, type PackedProject } from '../helpers/packed.js';

const run = promisify(execFile);

const APP = (images: string, emails: string): string => `
import { defineTask, z } from 'celerity';

export const add = defineTask({
  name: 'cli.add', queue: ${JSON.stringify(images)},
  args: z.tuple([z.number(), z.number()]),
  run: ([a, b]) => a + b,
});

export const greet = defineTask({
  name: 'cli.greet', queue: ${JSON.stringify(emails)},
  kwargs: z.object({ name: z.string() }),
  run: (_args, { name }) => 'hello ' + name,
});
`;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

interface TaskJson {
  id: string;
  state: string;
  result?: unknown;
  queue?: string;
}

describe('the celerity command from the packed tarball', { timeout: 600_000 }, () => {
  const suffix = randomBytes(5).toString('hex');
  const images = `test.cli.images.${suffix}`;
  const emails = `test.cli.emails.${suffix}`;
  const parked = `test.cli.parked.${suffix}`;
  const schema = `t_pkgcli_${suffix}`;
  let installed: PackedProject;
  let env: NodeJS.ProcessEnv;
  const children: Child[] = [];
  /** The metrics ports the two workers took. */
  let ports: number[] = [];

  const celerity = async (args: string[]): Promise<Outcome> => {
    try {
      const { stdout, stderr } = await run(installed.bin, args, { cwd: installed.project, env, timeout: 120_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as Outcome;
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  before(async () => {
    installed = await packedProject('celerity-pkg-cli-');
    await writeFile(path.join(installed.project, 'tasks.mjs'), APP(images, emails));
    env = { ...process.env, AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema, LOG_LEVEL: 'info', CELERITY_APP: '' };
  });

  after(async () => {
    await cleanupPackageTest({ children, schema, queues: [images, emails, parked], project: installed });
  });

  it('two workers on one host with default flags both run, each on its own metrics port', async (t) => {
    // The ordinary way to bind two queues: a worker each, started together, no port given.
    for (const queue of [images, emails]) {
      const worker = startChild(installed.bin, ['worker', '--app', 'tasks.mjs', '-Q', queue], installed.project, env);
      children.push(worker);
    }
    ports = await waitFor('both workers to consume', () => {
      for (const c of children) if (c.child.exitCode !== null) throw new Error(`a worker exited:\n${c.output()}`);
      const found = children.map((c) => /"metricsPort":(\d+)/.exec(c.output())?.[1]);
      return found.every((p) => p !== undefined) ? found.map(Number) : undefined;
    }, { timeoutMs: 90_000 });
    assert.notEqual(ports[0], ports[1]);
    for (const port of ports) assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    // The one that did not get the default port said so, and which it took instead.
    assert.ok(children.some((c) => /metrics port 9400 is taken .*serving \/metrics, \/healthz and \/readyz on \d+/.test(c.output())), children.map((c) => c.output()).join('\n'));
    t.diagnostic(`metrics ports ${ports.join(', ')}`);
  });

  it('celerity call --wait prints the task as JSON; call prints an id that celerity result --wait reads', async () => {
    const version = await celerity(['--version']);
    assert.deepEqual([version.code, version.stdout.trim()], [0, installed.packed.filename.replace(/^celerity-(.+)\.tgz$/, '$1')]);
    // With the app, the task goes to its own queue (without it, to --queue or Celery's default `celery`).
    const called = await celerity(['call', 'cli.add', '--args', '[40, 2]', '--wait', '30', '--app', 'tasks.mjs']);
    assert.equal(called.code, 0, called.stderr);
    const task = JSON.parse(called.stdout) as TaskJson;
    assert.deepEqual([task.state, task.result, task.queue], ['SUCCESS', 42, images]);

    const sent = await celerity(['call', 'cli.greet', '--kwargs', '{"name": "Ada"}', '--app', 'tasks.mjs']);
    assert.equal(sent.code, 0, sent.stderr);
    const id = sent.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    const result = await celerity(['result', id, '--wait', '30']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((({ id: i, state, result: r }) => ({ id: i, state, result: r }))(JSON.parse(result.stdout) as TaskJson), { id, state: 'SUCCESS', result: 'hello Ada' });

    const unknown = await celerity(['result', '00000000-0000-4000-8000-000000000000']);
    assert.equal(unknown.code, 5, unknown.stderr);
    assert.match(unknown.stderr, /^celerity: no task 00000000-0000-4000-8000-000000000000 in the result store$/m);

    // Sent where no worker listens: --wait runs out, exit 6, the task as it stands (purged below).
    const waiting = await celerity(['call', 'cli.add', '--args', '[1, 1]', '--queue', parked, '--wait', '1']);
    assert.equal(waiting.code, 6, waiting.stderr);
    assert.equal((JSON.parse(waiting.stdout) as TaskJson).state, 'PENDING');
  });

  it('celerity status --json lists the queues with ready / unacked / consumers, and the two workers', async () => {
    const status = await celerity(['status', '--json', '--app', 'tasks.mjs']);
    assert.equal(status.code, 0, status.stderr);
    const parsed = JSON.parse(status.stdout) as {
      queues: { name: string; exists: boolean; ready: number; unacked: number | null; consumers: number }[];
      workers: { hostname: string; status: string; queues: string[]; metricsPort: number | null }[];
    };
    for (const queue of [images, emails]) {
      const row = parsed.queues.find((q) => q.name === queue);
      assert.ok(row, `${queue} listed`);
      assert.deepEqual([row.exists, row.ready, row.consumers], [true, 0, 1]);
      assert.ok('unacked' in row);
      assert.ok(parsed.workers.some((w) => w.status === 'online' && w.queues.includes(queue)), `a worker on ${queue}`);
    }
    // Each worker says where its metrics are, the moved port included.
    const announced = parsed.workers.filter((w) => w.queues.includes(images) || w.queues.includes(emails)).map((w) => w.metricsPort);
    assert.deepEqual([...announced].sort(), [...ports].sort());
    const table = await celerity(['status', images]);
    assert.match(table.stdout, new RegExp(`^QUEUE +READY +UNACKED +CONSUMERS\\n${images.replace(/\./g, '\\.')} +0 +- +1$`, 'm'));
  });

  it('celerity purge removes the waiting messages of a queue and says how many; without --force and a terminal it asks nothing and purges nothing', async () => {
    // One more waits there already (the --wait that ran out above).
    for (let i = 0; i < 3; i++) assert.equal((await celerity(['call', 'cli.add', '--args', '[1, 1]', '--queue', parked])).code, 0);
    const refused = await celerity(['purge', parked]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /nothing purged.*\n.*--force/);
    const purged = await celerity(['purge', parked, '--force']);
    assert.equal(purged.code, 0, purged.stderr);
    assert.equal(purged.stdout.trim(), `purged 4 message(s) from ${parked}`);
    assert.equal((await celerity(['purge', parked, '--force'])).stdout.trim(), `purged 0 message(s) from ${parked}`);
  });
});
