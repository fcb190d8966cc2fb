/**
 * deploy/systemd: the units run entry files the build produces; each worker instance has its
 * own, non-zero metrics port that the shipped Prometheus config scrapes (a worker with its
 * server off, or two on one port, would leave CelerityNoWorkers or CelerityWorkerDown firing);
 * every variable the units and example settings files set is read by the config module, which
 * accepts the result.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  ROOT,
  celerityProcess,
  filesUnder,
  knownVariables,
  parseEnvLines,
  readText,
  readYaml,
  unknownVariables,
  type Process,
} from '../helpers/deploy.js';

const DIR = 'deploy/systemd';
type Unit = Record<string, Record<string, string[]>>;

/** A unit file as section → key → values (a key may repeat); comments and blanks dropped. */
function parseUnit(path: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of readText(path).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = unit[header[1] ?? ''] = {};
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section && eq > 0, `${path}: "${line}" is not Key=value inside a section`);
    const key = line.slice(0, eq);
    (section[key] ??= []).push(line.slice(eq + 1));
  }
  return unit;
}

/** Where the shipped examples stand for the settings files a unit names. */
function exampleFor(envFile: string, instance: string): string {
  const name = envFile.replace(/^-/, '').replace('%i', instance).replace(/^\/etc\/celerity\//, '');
  return `${DIR}/${name}.example`;
}

const units = filesUnder(DIR).filter((f) => f.endsWith('.service'));
const instances = filesUnder(DIR)
  .map((f) => /worker-(.+)\.env\.example$/.exec(f)?.[1])
  .filter((i): i is string => i !== undefined);

/** What a unit runs, as the image's entry point arguments, and with which environment. */
function unitProcess(path: string, instance = ''): { process: Process; env: Record<string, string>; service: Record<string, string[]> } {
  const service = parseUnit(path).Service ?? assert.fail(`${path} has no [Service]`);
  const execStart = service.ExecStart ?? [];
  assert.equal(execStart.length, 1, `${path}: one ExecStart`);
  const [node, file = '', ...args] = (execStart[0] ?? '').split(/\s+/);
  assert.equal(node, '/usr/bin/node', path);
  assert.ok(existsSync(resolve(ROOT, file)), `${path}: ${file} is not built`);
  // The gateway's entry takes no role; the worker's entry and a `celerity` command line take
  // it as their first argument (worker, migrate, gateway).
  const role = file === 'dist/gateway/src/main.js' ? ['gateway'] : /^dist\/(worker\/src\/main|cli)\.js$/.test(file) ? [] : assert.fail(`${path}: runs ${file}`);
  const env: Record<string, string> = parseEnvLines((service.Environment ?? []).map((e) => e.replace(/%i/g, instance)));
  for (const envFile of service.EnvironmentFile ?? []) Object.assign(env, parseEnvLines(readText(exampleFor(envFile, instance)).split('\n')));
  return { process: celerityProcess([...role, ...args], env), env, service };
}

describe('deploy/systemd', () => {
  it('units run the built entry files; gateway and workers require the migrations unit', () => {
    assert.deepEqual(units.map((u) => u.slice(DIR.length + 1)), ['celerity-gateway.service', 'celerity-migrate.service', 'celerity-worker@.service']);
    assert.equal(unitProcess(`${DIR}/celerity-migrate.service`).process.role, 'migrate');
    assert.equal(unitProcess(`${DIR}/celerity-gateway.service`).process.role, 'gateway');
    for (const unit of ['celerity-gateway.service', 'celerity-worker@.service']) {
      const requires = parseUnit(`${DIR}/${unit}`).Unit?.Requires ?? [];
      assert.ok(requires.includes('celerity-migrate.service'), `${unit} requires celerity-migrate.service`);
    }
  });

  it('every variable the units and the example settings set is read by the config module', () => {
    const known = knownVariables();
    const names = new Set<string>();
    for (const unit of units) for (const e of parseUnit(unit).Service?.Environment ?? []) names.add(e.slice(0, e.indexOf('=')));
    for (const example of filesUnder(DIR).filter((f) => f.endsWith('.env.example'))) {
      for (const name of Object.keys(parseEnvLines(readText(example).split('\n')))) names.add(name);
    }
    assert.ok(names.has('WORKER_METRICS_PORT') && names.has('AMQP_URL'));
    assert.deepEqual(unknownVariables(names, known), []);
  });

  it('each worker instance has its own non-zero metrics port, scraped by deploy/prometheus/prometheus.yml', () => {
    assert.doesNotMatch(readText(`${DIR}/celerity-worker@.service`), /--metrics-port\s+0\b/);
    assert.ok(instances.length >= 2, 'examples for two instances');
    const prometheus = readYaml('deploy/prometheus/prometheus.yml')[0] as { scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
    const targets = (job: string): string[] => prometheus.scrape_configs.find((j) => j.job_name === job)?.static_configs.flatMap((s) => s.targets) ?? [];
    const ports = new Set<number>();
    for (const instance of instances) {
      const { process, service } = unitProcess(`${DIR}/celerity-worker@.service`, instance);
      assert.equal(process.role, 'worker');
      if (process.role !== 'worker') continue;
      assert.ok(process.config.metricsPort > 0, `${instance}: metrics server on`);
      assert.ok(!ports.has(process.config.metricsPort), `${instance}: port ${process.config.metricsPort} used twice`);
      ports.add(process.config.metricsPort);
      assert.ok(targets('celerity-worker').includes(`127.0.0.1:${process.config.metricsPort}`), `${instance}'s port is scraped`);
      const stopS = Number(service.TimeoutStopSec?.[0] ?? 90);
      assert.ok(stopS * 1000 > process.config.graceMs, `${instance}: TimeoutStopSec above WORKER_GRACE_MS`);
    }
    assert.deepEqual(targets('celerity-worker').length, ports.size, 'no target without an instance');
    const gateway = unitProcess(`${DIR}/celerity-gateway.service`).process;
    assert.ok(gateway.role === 'gateway' && targets('celerity-gateway').includes(`127.0.0.1:${gateway.config.port}`));
  });
});
