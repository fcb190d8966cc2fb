/**
 * The Dockerfile, read by a Dockerfile parser (no Docker engine here): a multi-stage build whose
 * runtime stage holds production dependencies and compiled code only, runs as a non-root user,
 * exposes the code's default ports and has a HEALTHCHECK; every COPY source exists in the build
 * context. The entry point script and the healthcheck script are run for real.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';
import { DEFAULTS } from '../../shared/src/config/load.js';
import { createRegistry } from '../../shared/src/core/metrics.js';
import { WorkerMetrics } from '../../worker/src/metrics.js';
import { startMetricsServer } from '../../worker/src/metrics-server.js';
import { ROOT, filesUnder, readText } from '../helpers/deploy.js';

const run = promisify(execFile);
const dockerfile = DockerfileParser.parse(readText('Dockerfile'));
const stages = dockerfile.getFROMs();
const runtime = stages.at(-1);

function args(instruction: Instruction): string[] {
  return instruction.getArguments().map((a) => a.getValue());
}

/** The instructions of the last stage (from its FROM on). */
function runtimeInstructions(): Instruction[] {
  const start = runtime?.getRange().start.line ?? 0;
  return dockerfile.getInstructions().filter((i) => i.getRange().start.line >= start);
}

/** A JSON-form argument list (`["node", "x"]`) as strings. */
function jsonForm(text: string): string[] {
  const parsed = JSON.parse(text) as unknown;
  assert.ok(Array.isArray(parsed) && parsed.every((p) => typeof p === 'string'), `not the JSON form: ${text}`);
  return parsed;
}

/** `.dockerignore` patterns (top-level names here; enough for this repository's file). */
function ignored(path: string): boolean {
  const patterns = readText('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  return patterns.some((p) => path === p || path.startsWith(`${p}/`) || (p.startsWith('*.') && path.endsWith(p.slice(1))));
}

describe('Dockerfile', () => {
  it('has named build, dependency and runtime stages, and copies between them by name', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    const names = stages.map((s) => s.getBuildStage());
    assert.ok(names.every((n) => n !== null), 'every stage is named');
    const runs = dockerfile.getInstructions().filter((i) => i.getKeyword() === 'RUN').map((i) => args(i).join(' '));
    assert.ok(runs.some((r) => r.includes('npm ci') && !r.includes('--omit=dev')), 'a stage installs every dependency to build');
    assert.ok(runs.some((r) => r.includes('npm run build')), 'a stage builds');
    assert.ok(runs.some((r) => r.includes('npm ci --omit=dev')), 'a stage installs production dependencies only');
    for (const copy of dockerfile.getCOPYs()) {
      const from = copy.getFromFlag()?.getValue();
      if (from === undefined || from === null) continue;
      const index = names.indexOf(from);
      assert.ok(index >= 0 && stages[index]!.getRange().start.line < copy.getRange().start.line, `COPY --from=${from} names an earlier stage`);
    }
  });

  it('the runtime stage holds compiled code and production dependencies only', () => {
    const copies = runtimeInstructions().filter((i): i is Copy => i.getKeyword() === 'COPY');
    const fromBuild = copies.filter((c) => c.getFromFlag()?.getValue() === 'build').map((c) => args(c)[0] ?? '');
    assert.ok(fromBuild.length > 0 && fromBuild.every((src) => src.startsWith('/app/dist/')), `only dist/ from the build stage: ${fromBuild.join(', ')}`);
    const modules = copies.filter((c) => args(c)[0]?.endsWith('node_modules'));
    assert.deepEqual(modules.map((c) => c.getFromFlag()?.getValue()), ['deps'], 'node_modules come from the production-only stage');
    // What the runtime stage takes from the build context: no TypeScript sources, no tests.
    for (const copy of copies.filter((c) => c.getFromFlag() === null)) {
      for (const src of args(copy).slice(0, -1)) {
        const files = statSync(resolve(ROOT, src)).isDirectory() ? filesUnder(src) : [src];
        assert.ok(!files.some((f) => f.endsWith('.ts') || f.startsWith('test/')), `${src} brings sources into the image`);
      }
    }
    assert.ok(dockerfile.getENVs().flatMap((e) => e.getProperties()).some((p) => p.getName() === 'NODE_ENV' && p.getValue() === 'production'));
  });

  it('every COPY source from the build context exists and is not excluded by .dockerignore', () => {
    for (const copy of dockerfile.getCOPYs()) {
      if (copy.getFromFlag() !== null) continue;
      for (const src of args(copy).slice(0, -1)) {
        assert.ok(existsSync(resolve(ROOT, src)), `COPY ${src}: no such file in the repository`);
        if (src !== '.') assert.ok(!ignored(src), `COPY ${src}: excluded by .dockerignore`);
      }
    }
    for (const needed of ['node_modules', 'dist', '.git']) assert.ok(ignored(needed), `.dockerignore keeps ${needed} out of the context`);
  });

  it('runs as a non-root user', () => {
    const users = runtimeInstructions().filter((i) => i.getKeyword() === 'USER').map((i) => args(i)[0] ?? '');
    assert.ok(users.length > 0, 'the runtime stage sets USER');
    const user = users.at(-1) ?? '';
    assert.ok(!['root', '0', '0:0'].includes(user) && !user.startsWith('root:') && !user.startsWith('0:'), `USER ${user} is root`);
  });

  it('exposes the gateway port and the worker metrics port that the code defaults to', () => {
    const exposed = runtimeInstructions().filter((i) => i.getKeyword() === 'EXPOSE').flatMap(args).map((p) => Number(p.split('/')[0]));
    assert.deepEqual(exposed.sort(), [DEFAULTS.gatewayPort, DEFAULTS.workerMetricsPort].sort());
  });

  it('has a HEALTHCHECK running the shipped node script (no curl), and an entry point taking the role as argument', () => {
    const healthchecks = dockerfile.getHEALTHCHECKs();
    assert.equal(healthchecks.length, 1);
    const check = args(healthchecks[0]!);
    assert.equal(check[0], 'CMD');
    const command = jsonForm(check.slice(1).join(' '));
    assert.equal(command[0], 'node');
    assert.ok(existsSync(resolve(ROOT, command[1] ?? '')), `${command[1]} exists`);
    const entrypoint = jsonForm(args(dockerfile.getENTRYPOINTs()[0]!).join(' '));
    assert.ok(existsSync(resolve(ROOT, entrypoint.at(-1) ?? '')), 'the entry point script exists');
    assert.deepEqual(jsonForm(args(dockerfile.getCMDs()[0]!).join(' ')), ['gateway']);
    // Both scripts are copied into the runtime stage.
    const copied = runtimeInstructions().filter((i) => i.getKeyword() === 'COPY').flatMap(args);
    for (const script of [command[1], entrypoint.at(-1)]) assert.ok(copied.includes(script ?? ''), `${script} is copied`);
  });
});

describe('deploy/docker scripts', () => {
  const servers: Server[] = [];
  let workerPort = 0;
  let closedPort = 0;
  before(async () => {
    const registry = new WorkerMetrics(createRegistry('worker', false)).registry;
    const worker = await startMetricsServer({
      registry,
      health: () => ({ ok: true, state: 'RUNNING', inFlight: 0 }),
      readiness: { broker: () => true, consuming: () => true, database: () => Promise.resolve() },
      port: 0,
      host: '127.0.0.1',
    });
    servers.push(worker);
    workerPort = (worker.address() as AddressInfo).port;
    // A port nothing listens on: take one, then free it.
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
  });
  after(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  async function healthcheck(env: Record<string, string>): Promise<number> {
    try {
      await run(process.execPath, ['deploy/docker/healthcheck.mjs'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 });
      return 0;
    } catch (err) {
      return (err as { code: number }).code;
    }
  }

  it('the healthcheck passes when a worker /healthz answers 200 and fails when nothing answers', async () => {
    assert.equal(await healthcheck({ GATEWAY_PORT: String(closedPort), WORKER_METRICS_PORT: String(workerPort), WORKER_METRICS_HOST: '0.0.0.0' }), 0);
    assert.equal(await healthcheck({ GATEWAY_PORT: String(closedPort), WORKER_METRICS_PORT: String(closedPort) }), 1);
    assert.equal(await healthcheck({ GATEWAY_PORT: String(closedPort), WORKER_METRICS_PORT: '0' }), 1);
  });

  it('the entry point maps gateway, worker and migrate to entry files the build produces', () => {
    const script = readText('deploy/docker/entrypoint.sh');
    const roles = new Map<string, string>();
    for (const m of script.matchAll(/^\s*([a-z| -]+)\)\s*exec node (\S+)/gm)) {
      for (const role of (m[1] ?? '').split('|').map((r) => r.trim())) roles.set(role, m[2] ?? '');
    }
    for (const role of ['gateway', 'worker', 'migrate', 'keys']) {
      const file = roles.get(role);
      assert.ok(file !== undefined, `the entry point runs ${role}`);
      assert.ok(existsSync(resolve(ROOT, file)), `${file} (for ${role}) is built`);
    }
  });

  it('the entry point passes the arguments on: worker --help lists the worker flags', async () => {
    const { stdout } = await run('sh', ['deploy/docker/entrypoint.sh', 'worker', '--help'], { cwd: ROOT, timeout: 30_000 });
    for (const flag of ['--queues', '--concurrency', '--metrics-port', '--metrics-host']) assert.ok(stdout.includes(flag), flag);
  });
});
