/**
 * deploy/: promtool accepts the scrape config and the alert rules and their unit tests pass;
 * the Grafana dashboard is valid JSON whose queries use only metrics Celerity exports.
 * promtool comes from Debian's `prometheus` package (scripts/ensure-chromium.sh installs it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PROMETHEUS_DIR = resolve(process.cwd(), 'deploy/prometheus');
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

async function promtool(...args: string[]): Promise<string> {
  const { stdout, stderr } = await run(PROMTOOL, args, { cwd: PROMETHEUS_DIR });
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
    assert.match(await promtool('check', 'rules', 'alerts.yml'), /SUCCESS: 6 rules found/);
  });

  it('the alert rules pass their promtool unit tests', async () => {
    assert.match(await promtool('test', 'rules', 'alerts.test.yml'), /SUCCESS/);
  });

  it('alerts and the Grafana dashboard only use metrics that exist', async () => {
    const exported = await exportedMetrics();
    assert.ok(exported.has('celerity_queue_messages') && exported.has('celerity_worker_task_queue_wait_seconds'));
    const alerts = await readFile(resolve(PROMETHEUS_DIR, 'alerts.yml'), 'utf8');
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
