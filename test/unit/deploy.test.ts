/**
 * deploy/: every YAML file parses; promtool accepts both scrape configs (systemd hosts and
 * compose.yaml) and the alert rules, and their unit tests pass; the Grafana dashboard is valid
 * JSON whose queries use only metrics Celerity exports; every HTTP path a deploy file probes or
 * scrapes is one the gateway or the worker serves. promtool comes from Debian's `prometheus`
 * package (scripts/ensure-chromium.sh installs it). The Dockerfile, compose.yaml, Kubernetes and
 * systemd files have test files of their own (deploy-*.test.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import express from 'express';
import { parse, stringify } from 'yaml';
import { createRegistry } from '../../shared/src/core/metrics.js';
import { healthRoutes } from '../../gateway/src/routes/health.js';
import { WorkerMetrics } from '../../worker/src/metrics.js';
import { startMetricsServer } from '../../worker/src/metrics-server.js';
import { readText, readYaml, yamlFilesUnder } from '../helpers/deploy.js';

const run = promisify(execFile);
const PROMETHEUS_DIR = resolve(process.cwd(), 'deploy/prometheus');
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

async function promtool(...args: string[]): Promise<string> {
  return promtoolIn(PROMETHEUS_DIR, ...args);
}

async function promtoolIn(cwd: string, ...args: string[]): Promise<string> {
  const { stdout, stderr } = await run(PROMTOOL, args, { cwd });
  return stdout + stderr;
}

/** Every metric name exported by the code (gateway and worker metric classes). */
async function exportedMetrics(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const file of ['gateway/src/metrics.ts', 'worker/src/metrics.ts']) {
    const text = await readFile(resolve(process.cwd(), file), 'utf8');
    for (const m of text.matchAll(/name: '(celerity_[a-z_]+)'/g)) if (m[1]) names.add(m[1]);
  }
  return names;
}

function referencedMetrics(expr: string): string[] {
  return [...expr.matchAll(/\b(celerity_[a-z_]+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1] ?? '');
}

describe('deploy/prometheus and deploy/grafana', () => {
  it('promtool accepts the scrape config', async () => {
    assert.match(await promtool('check', 'config', 'prometheus.yml'), /SUCCESS/);
  });

  it('promtool accepts the alert rules', async () => {
    assert.match(await promtool('check', 'rules', 'alerts.yml'), /SUCCESS: 9 rules found/);
  });

  it('the alert rules pass their promtool unit tests', async () => {
    assert.match(await promtool('test', 'rules', 'alerts.test.yml'), /SUCCESS/);
  });

  it('alerts and the Grafana dashboard only use metrics that exist', async () => {
    const exported = await exportedMetrics();
    assert.ok(exported.has('celerity_queue_messages') && exported.has('celerity_worker_task_queue_wait_seconds'));
    // The rules' expressions only: annotations may name labels (celerity_gateway_url) too.
    const alerts = (parse(await readFile(resolve(PROMETHEUS_DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: { expr: string }[] }[] }).groups
      .flatMap((g) => g.rules.map((r) => r.expr))
      .join('\n');
    const dashboard = JSON.parse(await readFile(resolve(process.cwd(), 'deploy/grafana/celerity.json'), 'utf8')) as {
      title: string;
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    };
    assert.equal(dashboard.title, 'Celerity');
    const exprs = [alerts, ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr))];
    const used = new Set(exprs.flatMap(referencedMetrics));
    for (const name of used) assert.ok(exported.has(name), `${name} is used but not exported`);
    assert.ok(dashboard.panels.length >= 8);
  });
});

describe('deploy/: every YAML file, and compose.yaml\'s Prometheus', () => {
  it('every YAML file under deploy/ parses, without errors or warnings', () => {
    const files = yamlFilesUnder('deploy');
    assert.ok(files.length >= 15, `found ${files.length}`);
    for (const file of files) assert.ok(readYaml(file).length >= 1, file);
  });

  it('promtool accepts compose.yaml\'s scrape config together with the shipped rules', async () => {
    // Laid out as in the container: the config beside alerts.yml, the token file where the
    // Prometheus service writes it (here a temporary file).
    const dir = await mkdtemp(join(tmpdir(), 'celerity-prom-'));
    try {
      const config = readYaml('deploy/compose/prometheus.yml')[0] as { scrape_configs: { authorization?: { credentials_file?: string } }[] };
      const token = join(dir, 'metrics-token');
      await writeFile(token, 'x'.repeat(32));
      for (const job of config.scrape_configs) if (job.authorization?.credentials_file) job.authorization.credentials_file = token;
      await writeFile(join(dir, 'prometheus.yml'), stringify(config));
      await copyFile(resolve(PROMETHEUS_DIR, 'alerts.yml'), join(dir, 'alerts.yml'));
      const out = await promtoolIn(dir, 'check', 'config', 'prometheus.yml');
      assert.match(out, /SUCCESS: prometheus.yml is valid/);
      assert.match(out, /SUCCESS: 9 rules found/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy/: HTTP paths are the ones the code serves', () => {
  const servers: Server[] = [];
  let gateway = '';
  let worker = '';
  before(async () => {
    const registry = new WorkerMetrics(createRegistry('worker', false)).registry;
    const workerServer = await startMetricsServer({
      registry,
      health: () => ({ ok: true, state: 'RUNNING', inFlight: 0 }),
      readiness: { broker: () => true, consuming: () => true, database: () => Promise.resolve() },
      port: 0,
      host: '127.0.0.1',
    });
    servers.push(workerServer);
    worker = `http://127.0.0.1:${(workerServer.address() as AddressInfo).port}`;
    const app = express().use(healthRoutes({ broker: () => true, database: () => Promise.resolve() }, createRegistry('gateway', false)));
    const gatewayServer = app.listen(0, '127.0.0.1');
    await new Promise((r) => gatewayServer.once('listening', r));
    servers.push(gatewayServer);
    gateway = `http://127.0.0.1:${(gatewayServer.address() as AddressInfo).port}`;
  });
  after(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  /** [which process, path, where] for every probe, scrape path and health check in deploy/. */
  function usedPaths(): [('gateway' | 'worker'), string, string][] {
    const used: [('gateway' | 'worker'), string, string][] = [];
    for (const file of ['deploy/prometheus/prometheus.yml', 'deploy/compose/prometheus.yml']) {
      const config = readYaml(file)[0] as { scrape_configs: { job_name: string; metrics_path?: string }[] };
      for (const job of config.scrape_configs) {
        const role = job.job_name === 'celerity-gateway' ? 'gateway' : job.job_name === 'celerity-worker' ? 'worker' : undefined;
        if (role) used.push([role, job.metrics_path ?? '/metrics', `${file} ${job.job_name}`]);
      }
    }
    for (const file of yamlFilesUnder('deploy/kubernetes')) {
      for (const o of readYaml(file) as { kind: string; spec?: { template?: { spec: { containers: { args?: string[]; readinessProbe?: { httpGet?: { path: string } }; livenessProbe?: { httpGet?: { path: string } } }[] } } } }[]) {
        for (const c of o.spec?.template?.spec.containers ?? []) {
          const role = c.args?.[0];
          if (role !== 'gateway' && role !== 'worker') continue;
          for (const probe of [c.readinessProbe, c.livenessProbe]) if (probe?.httpGet) used.push([role, probe.httpGet.path, file]);
        }
      }
    }
    for (const m of readText('deploy/docker/healthcheck.mjs').matchAll(/\/[a-z]+z\b/g)) {
      used.push(['gateway', m[0], 'deploy/docker/healthcheck.mjs'], ['worker', m[0], 'deploy/docker/healthcheck.mjs']);
    }
    return used;
  }

  it('every probe, scrape and health-check path answers on the process it targets', async () => {
    const used = usedPaths();
    assert.ok(used.length >= 10, `found ${used.length}`);
    for (const [role, path, where] of used) {
      const res = await fetch(`${role === 'gateway' ? gateway : worker}${path}`);
      assert.equal(res.status, 200, `${where}: GET ${path} on the ${role}`);
    }
    assert.equal((await fetch(`${worker}/nope`)).status, 404, 'an unserved path would be caught');
  });
});
