/**
 * deploy/prometheus/alerts.yml against what operators need from it: every alert has promtool
 * cases both ways and a runbook line in docs/operations.md; the dead-letter alert and panels
 * link the gateway dashboard's dead-letter view; the latency histograms reach the largest wait
 * and time limit the configuration accepts, so no quantile is clipped below them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import type { Histogram } from 'prom-client';
import { createRegistry } from '../../shared/src/core/metrics.js';
import { loadGatewayConfig, loadWorkerConfig } from '../../shared/src/config/load.js';
import { submitOptionsSchema } from '../../shared/src/submit/submission.js';
import { GatewayMetrics } from '../../gateway/src/metrics.js';
import { WorkerMetrics } from '../../worker/src/metrics.js';

interface Rule {
  alert: string;
  expr: string;
  annotations: Record<string, string>;
}
interface RuleTest {
  alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }>;
}

async function text(path: string): Promise<string> {
  return readFile(resolve(process.cwd(), path), 'utf8');
}

async function rules(): Promise<Rule[]> {
  const file = parse(await text('deploy/prometheus/alerts.yml')) as { groups: Array<{ rules: Rule[] }> };
  return file.groups.flatMap((g) => g.rules);
}

/** The anchors GitHub gives the headings of a markdown file. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#+ (.+)$/gm)) {
    out.add((m[1] ?? '').trim().toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-'));
  }
  return out;
}

describe('deploy/prometheus/alerts.yml', () => {
  it('every alert has a promtool case where it fires and one where it stays quiet', async () => {
    const tests = (parse(await text('deploy/prometheus/alerts.test.yml')) as { tests: RuleTest[] }).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    const all = await rules();
    assert.ok(all.length >= 9, `found ${all.length} alerts`);
    for (const { alert } of all) {
      const mine = cases.filter((c) => c.alertname === alert);
      assert.ok(mine.some((c) => c.exp_alerts.length > 0), `${alert} has no case where it fires`);
      assert.ok(mine.some((c) => c.exp_alerts.length === 0), `${alert} has no case where it stays quiet`);
    }
  });

  it('every alert has a summary, a description saying why, and a runbook line in docs/operations.md', async () => {
    const runbook = anchors(await text('docs/operations.md'));
    for (const { alert, annotations } of await rules()) {
      assert.ok(annotations.summary && annotations.description && annotations.description.length > 60, `${alert}: summary and description`);
      assert.equal(annotations.runbook, `docs/operations.md#${alert.toLowerCase()}`, `${alert}: runbook annotation`);
      assert.ok(runbook.has(alert.toLowerCase()), `docs/operations.md has no heading for ${alert}`);
    }
  });

  it('the dead-letter alert and the Grafana dead-letter panels link the gateway dashboard\'s dead-letter view', async () => {
    const html = await text('gateway/dashboard/index.html');
    assert.match(html, /<section id="dead-letters">/, 'the view the links point at');
    const alert = (await rules()).find((r) => r.alert === 'CelerityDeadLettersGrowing');
    assert.match(alert?.expr ?? '', /celerity_worker_dead_letters_total/);
    assert.match(alert?.expr ?? '', /celerity_dead_letter_messages/);
    assert.equal(alert?.annotations.dead_letters, '{{ $externalLabels.celerity_gateway_url }}/dashboard/?queue={{ $labels.queue }}#dead-letters');
    const dashboard = JSON.parse(await text('deploy/grafana/celerity.json')) as {
      panels: Array<{ title: string; links?: Array<{ url: string }>; targets?: Array<{ expr: string }> }>;
    };
    const deadPanels = dashboard.panels.filter((p) => p.targets?.some((t) => /celerity_(worker_)?dead_letter/.test(t.expr)));
    assert.equal(deadPanels.length, 2, 'a panel for what waits and one for what is added');
    for (const p of deadPanels) assert.ok(p.links?.some((l) => l.url.endsWith('/dashboard/#dead-letters')), `${p.title} links the view`);
  });

  it('the shipped scrape configs set the external label the links use', async () => {
    for (const file of ['deploy/prometheus/prometheus.yml', 'deploy/compose/prometheus.yml']) {
      const config = parse(await text(file)) as { global: { external_labels?: Record<string, string> } };
      assert.match(config.global.external_labels?.celerity_gateway_url ?? '', /^https?:\/\/[^/]+$/, file);
    }
  });
});

describe('histogram buckets cover what they measure', () => {
  async function topBucket(histogram: Histogram<string>, labels: Record<string, string>): Promise<number> {
    histogram.observe(labels, 1);
    const bounds = (await histogram.get()).values.map((v) => v.labels.le).filter((le): le is number => typeof le === 'number');
    return Math.max(...bounds);
  }

  it('?wait= and HTTP request times reach the longest GATEWAY_MAX_WAIT_SECONDS accepted', async () => {
    const metrics = new GatewayMetrics(createRegistry('gateway', false));
    const rpcTop = await topBucket(metrics.rpcDuration, { task: 't' });
    const httpTop = await topBucket(metrics.httpDuration, { method: 'GET', route: '/', status: '200' });
    assert.equal(loadGatewayConfig({ GATEWAY_MAX_WAIT_SECONDS: String(rpcTop) }).maxWaitS, rpcTop);
    assert.throws(() => loadGatewayConfig({ GATEWAY_MAX_WAIT_SECONDS: String(rpcTop + 1) }), /GATEWAY_MAX_WAIT_SECONDS/);
    assert.equal(httpTop, rpcTop);
  });

  it('run time reaches the longest time limit a worker or a submit accepts; queue wait reaches a day', async () => {
    const metrics = new WorkerMetrics(createRegistry('worker', false));
    const runTop = await topBucket(metrics.duration, { task: 't', queue: 'q' });
    const defaults = { queues: ['q'], cpus: 1 };
    assert.equal(loadWorkerConfig({ WORKER_TIME_LIMIT_SECONDS: String(runTop) }, {}, defaults).timeLimitS, runTop);
    assert.throws(() => loadWorkerConfig({ WORKER_TIME_LIMIT_SECONDS: String(runTop + 1) }, {}, defaults), /WORKER_TIME_LIMIT_SECONDS/);
    assert.ok(submitOptionsSchema.safeParse({ timeLimit: runTop }).success);
    assert.ok(!submitOptionsSchema.safeParse({ timeLimit: runTop + 1 }).success);
    assert.ok((await topBucket(metrics.queueWait, { task: 't', queue: 'q' })) >= 86_400);
  });
});
