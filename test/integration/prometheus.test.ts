/**
 * The shipped alert rules on a real Prometheus (Debian's `prometheus` package, installed by
 * scripts/ensure-chromium.sh): it scrapes a test gateway and worker every second, evaluates
 * deploy/prometheus/alerts.yml every second, and must see every rule evaluate cleanly and
 * CelerityDeadLettersGrowing go pending, with its link to the gateway's dead-letter view, once
 * ten tasks are failed into a dead-letter queue. Bounded: Prometheus listens on a free loopback
 * port, keeps its data in a temporary directory, and is stopped by the test.
 */
import { afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { TestContext, http, waitFor, type Task } from '../helpers/harness.js';

const PROMETHEUS = process.env.PROMETHEUS ?? 'prometheus';
const RULES = resolve(process.cwd(), 'deploy/prometheus/alerts.yml');

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
}

describe('the alert rules on a real Prometheus', () => {
  let ctx: TestContext;
  let dir = '';
  let prometheus: ChildProcess | undefined;
  let output = '';

  before(() => {
    const probe = spawnSync(PROMETHEUS, ['--version'], { encoding: 'utf8' });
    assert.equal(
      probe.status,
      0,
      `${PROMETHEUS} is not installed: run scripts/ensure-chromium.sh as root (it installs Debian's prometheus package), or set PROMETHEUS to the binary`,
    );
  });
  beforeEach(async () => {
    ctx = await TestContext.create();
    dir = await mkdtemp(join(tmpdir(), 'celerity-prometheus-'));
  });
  afterEach(async () => {
    if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
      const exited = once(prometheus, 'exit');
      prometheus.kill('SIGTERM');
      const timer = setTimeout(() => prometheus?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
    await ctx.cleanup();
  });

  /** Starts Prometheus scraping `gateway` and `worker`; resolves with its base URL once ready. */
  async function startPrometheus(gateway: string, worker: string, gatewayUrl: string): Promise<string> {
    const port = await freePort();
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s', external_labels: { celerity_gateway_url: gatewayUrl } },
      rule_files: [RULES],
      scrape_configs: [
        { job_name: 'celerity-gateway', static_configs: [{ targets: [gateway] }] },
        { job_name: 'celerity-worker', static_configs: [{ targets: [worker] }] },
      ],
    };
    await writeFile(join(dir, 'prometheus.yml'), stringify(config));
    const child = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus = child;
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const base = `http://127.0.0.1:${port}`;
    await waitFor('Prometheus to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited early:\n${output}`);
      return (await fetch(`${base}/-/ready`).catch(() => undefined))?.status === 200;
    }, { timeoutMs: 30_000, everyMs: 200 });
    return base;
  }

  async function query(base: string, expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    assert.equal(body.status, 'success', expr);
    return body.data.result;
  }

  it('scrapes a gateway and a worker, evaluates every rule, and CelerityDeadLettersGrowing goes pending with its link', async () => {
    const queue = ctx.queue('prom');
    const { url } = await ctx.startGateway({ queueStatsIntervalMs: 500 });
    const worker = await ctx.startWorker({ queues: [queue], metrics: true });
    const gatewayTarget = new URL(url).host;
    const base = await startPrometheus(gatewayTarget, `127.0.0.1:${worker.metricsPort}`, url);

    // The counter is scraped at 0 before the first dead letter, so increase() counts every one.
    const selector = `celerity_worker_dead_letters_total{queue="${queue}", task="demo.fail", reason="failed"}`;
    await waitFor('Prometheus to scrape the worker\'s dead-letter counter at 0', async () => (await query(base, selector))[0]?.value[1] === '0', {
      timeoutMs: 30_000,
      everyMs: 250,
    });
    await waitFor('both targets to be up', async () => (await query(base, 'up{job=~"celerity-.*"} == 1')).length === 2, { timeoutMs: 30_000, everyMs: 250 });

    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const failed = await http<Task>(`${url}/api/v1/tasks/demo.fail?wait=20`, { json: { args: [`no ${i}`], options: { queue } } });
        assert.equal(failed.body.state, 'FAILURE');
      }),
    );
    await waitFor('Prometheus to read 10 dead letters from the gateway', async () => {
      return (await query(base, `celerity_dead_letter_messages{queue="${queue}"}`))[0]?.value[1] === '10';
    }, { timeoutMs: 30_000, everyMs: 250 });

    const alert = await waitFor('CelerityDeadLettersGrowing to be pending for the queue', async () => {
      const res = (await (await fetch(`${base}/api/v1/alerts`)).json()) as { data: { alerts: PromAlert[] } };
      return res.data.alerts.find((a) => a.labels.alertname === 'CelerityDeadLettersGrowing' && a.labels.queue === queue);
    }, { timeoutMs: 30_000, everyMs: 250 });
    assert.equal(alert.state, 'pending', 'its for: 5m has not passed');
    assert.equal(alert.annotations.dead_letters, `${url}/dashboard/?queue=${queue}#dead-letters`);
    assert.match(alert.annotations.summary ?? '', new RegExp(`^Dead letters of ${queue.replace(/\./g, '\\.')} grow \\(\\d+ in 15 minutes\\)$`));

    // Every rule of the shipped file was evaluated against real series without an error.
    const rules = (await (await fetch(`${base}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string; lastEvaluation: string }> }> };
    };
    const all = rules.data.groups.flatMap((g) => g.rules);
    assert.equal(all.length, 9);
    for (const rule of all) {
      assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError ?? ''}`);
      assert.ok(Date.parse(rule.lastEvaluation) > 0, `${rule.name} was evaluated`);
    }
  });
});
