// `npm run bench` (full pass, under 10 minutes) or `npm run bench -- --quick` (about a minute);
// `--only=limit,rpc` runs some scenarios (`budget`: the latency budget hop by hop, with tracing); `--queue-type=quorum` declares the Celerity scenarios'
// queues as quorum queues (QUEUE_TYPES), to compare with the default classic. Needs the local RabbitMQ and PostgreSQL (`npm start` set-up).
// Writes bench/results/<timestamp>.json, docs/performance-latency.svg, and prints a markdown table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { budgetTable, type Budget } from './lib/budget.js';
import { latencyChart } from './lib/chart.js';
import { ROOT } from './lib/procs.js';
import { cpuTotal, type Row } from './lib/stats.js';
import { runBudget } from './scenarios/budget.js';
import { runBullmq } from './scenarios/bullmq.js';
import { runCelery } from './scenarios/celery.js';
import { runAsync, runMemory, runResponsiveness, runRpc, runSeed } from './scenarios/celerity.js';
import { runClient } from './scenarios/client.js';
import { runHttpFloor } from './scenarios/http-floor.js';
import { runLimit } from './scenarios/limit.js';
import { runStreams } from './scenarios/streams.js';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const queueType = process.argv.find((a) => a.startsWith('--queue-type='))?.slice('--queue-type='.length) ?? 'classic';
if (queueType !== 'classic' && queueType !== 'quorum') throw new Error(`--queue-type must be classic or quorum, got "${queueType}"`);
// Read by Stack (bench/lib/procs.ts), which gives its gateway and worker QUEUE_TYPES for its queue.
process.env.BENCH_QUEUE_TYPE = queueType;

const plan = quick
  ? {
      limit: { callers: [1, 16, 64], seconds: 3, openFractions: [0.5], asyncSeconds: 3 },
      rpc: { callers: [1, 16, 64], seconds: 3, openFractions: [0.5] },
      async: { seconds: 4, callers: 64, batchSize: 200, batchCallers: 4, workerConcurrency: Number(process.env.BENCH_ASYNC_CONCURRENCY ?? 64) },
      responsiveness: { waits: 1000, seconds: 4 },
      seed: { runs: [{ requests: 100, clients: 10 }, { requests: 300, clients: 100 }], workerConcurrency: 128 },
      memory: { waits: 2000 },
      streams: { streams: 2000, seconds: 5 },
      celery: { asyncSeconds: 3, rpcCallers: [1, 16], rpcSeconds: 3, profiles: ['strict'] as ('strict' | 'tuned')[] },
      bullmq: { asyncSeconds: 2, rpcCallers: [16], rpcSeconds: 3 },
      client: { inFlight: [1, 64], seconds: 3 },
      budget: { seconds: 3, batchSize: 200, batchCallers: 4 },
      http: { seconds: 3 },
    }
  : {
      limit: { callers: [1, 16, 64, 256], seconds: 6, openFractions: [0.25, 0.5, 0.75], asyncSeconds: 10 },
      rpc: { callers: [1, 16, 64, 256], seconds: 6, openFractions: [0.25, 0.5, 0.75, 0.9] },
      async: { seconds: 30, callers: 64, batchSize: 200, batchCallers: 4, workerConcurrency: Number(process.env.BENCH_ASYNC_CONCURRENCY ?? 64) },
      responsiveness: { waits: 1000, seconds: 10 },
      seed: { runs: [{ requests: 1000, clients: 10 }, { requests: 3000, clients: 100 }], workerConcurrency: 128 },
      memory: { waits: 10_000 },
      streams: { streams: 10_000, seconds: 20 },
      celery: { asyncSeconds: 10, rpcCallers: [1, 16], rpcSeconds: 8, profiles: ['strict', 'tuned'] as ('strict' | 'tuned')[] },
      bullmq: { asyncSeconds: 5, rpcCallers: [16], rpcSeconds: 8 },
      client: { inFlight: [1, 64], seconds: 6 },
      budget: { seconds: 6, batchSize: 200, batchCallers: 4 },
      http: { seconds: 6 },
    };

/** Filled by the budget scenario: its tables go to stdout and the results file, beside the rows. */
const budgets: Budget[] = [];

const scenarios: [string, () => Promise<Row[]>][] = [
  ['limit', () => runLimit(plan.limit)],
  ['rpc', () => runRpc(plan.rpc)],
  ['async', () => runAsync(plan.async)],
  ['responsiveness', () => runResponsiveness(plan.responsiveness)],
  ['seed', () => runSeed(plan.seed)],
  ['memory', () => runMemory(plan.memory)],
  ['streams', () => runStreams(plan.streams)],
  ['celery', () => runCelery(plan.celery)],
  ['bullmq', () => runBullmq(plan.bullmq)],
  ['client', () => runClient(plan.client)],
  [
    'budget',
    async () => {
      const result = await runBudget(plan.budget);
      budgets.push(...result.budgets);
      return result.rows;
    },
  ],
  ['http', () => runHttpFloor(plan.http)],
];

function find(rows: Row[], scenario: string, variant: RegExp): Row | undefined {
  return rows.find((r) => r.scenario === scenario && variant.test(r.variant));
}

interface Target {
  target: string;
  measured: string;
  ratio?: number;
  met: boolean | undefined;
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && b > 0 ? Math.round((a / b) * 100) / 100 : undefined;
}

function targets(rows: Row[]): Target[] {
  const out: Target[] = [];
  const lim64 = find(rows, 'limit', /^closed 64$/);
  const rpc64 = find(rows, 'rpc', /^closed 64$/);
  const lim1 = find(rows, 'limit', /^closed 1$/);
  const rpc1 = find(rows, 'rpc', /^closed 1$/);
  const rpc16 = find(rows, 'rpc', /^closed 16$/);
  const bull16 = find(rows, 'bullmq', /waitUntilFinished, 16/);
  const celeryStrict = find(rows, 'celery', /^async .*prefetch 1$/);
  const single = find(rows, 'async', /^one task/);
  const batch = find(rows, 'async', /^batch/);
  const pipeline = find(rows, 'limit', /^async/);
  const health = find(rows, 'responsiveness', /healthz/);
  const client64 = find(rows, 'client', /^64 in flight$/);
  const memory = find(rows, 'memory', /RSS/);
  const push = (target: string, measured: string, r: number | undefined, met: (r: number) => boolean): void => {
    out.push({ target, measured, ...(r !== undefined ? { ratio: r } : {}), met: r === undefined ? undefined : met(r) });
  };
  let r = ratio(rpc64?.throughput, lim64?.throughput);
  push('rpc 64 callers throughput >= 0.5 x limit', `${rpc64?.throughput ?? '-'} vs ${lim64?.throughput ?? '-'} /s`, r, (v) => v >= 0.5);
  // The latency target is the unloaded one: one caller, so the p50 is the round trip itself, not queueing.
  r = ratio(rpc1?.latency?.p50, lim1?.latency?.p50);
  push('rpc 1 caller p50 <= 2 x limit p50 (1 caller)', `${rpc1?.latency?.p50 ?? '-'} vs ${lim1?.latency?.p50 ?? '-'} ms`, r, (v) => v <= 2);
  r = ratio(rpc16?.throughput, bull16?.throughput);
  push('rpc 16 callers > BullMQ waitUntilFinished 16', `${rpc16?.throughput ?? '-'} vs ${bull16?.throughput ?? '-'} /s`, r, (v) => v > 1);
  r = ratio(single?.throughput, celeryStrict?.throughput);
  push('async one per request >= 2.5 x Celery (acks_late, prefetch 1)', `${single?.throughput ?? '-'} vs ${celeryStrict?.throughput ?? '-'} /s`, r, (v) => v >= 2.5);
  r = ratio(batch?.throughput, pipeline?.throughput);
  push('async batch >= 0.5 x bare confirm+ack pipeline', `${batch?.throughput ?? '-'} vs ${pipeline?.throughput ?? '-'} /s`, r, (v) => v >= 0.5);
  r = ratio(batch?.throughput, celeryStrict?.throughput);
  push('async batch >= 5 x Celery (acks_late, prefetch 1)', `${batch?.throughput ?? '-'} vs ${celeryStrict?.throughput ?? '-'} /s`, r, (v) => v >= 5);
  r = ratio(client64?.throughput, lim64?.throughput);
  push('client 64 in flight >= 0.7 x limit 64', `${client64?.throughput ?? '-'} vs ${lim64?.throughput ?? '-'} /s`, r, (v) => v >= 0.7);
  const p99 = health?.latency?.p99;
  out.push({ target: '/healthz p99 < 20 ms with 1,000 waits', measured: `${p99 ?? '-'} ms`, ...(p99 !== undefined ? { ratio: ratio(p99, 20)! } : {}), met: p99 === undefined ? undefined : p99 < 20 });
  const rss = memory?.rssMb;
  out.push({
    target: `gateway RSS < 200 MB with ${memory?.ok ?? '?'} waits`,
    measured: `${rss ?? '-'} MB`,
    ...(rss !== undefined ? { ratio: ratio(rss, 200)! } : {}),
    met: rss === undefined ? undefined : rss < 200,
  });
  return out;
}

function fmt(n: number | undefined): string {
  return n === undefined ? '' : String(n);
}

function table(rows: Row[]): string {
  const lines = [
    '| scenario | variant | per s | submit/s | p50 ms | p99 ms | p99.9 ms | ok | errors | CPU ms/task (gw · worker · broker · db · loadgen · peer) | notes |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const r of rows) {
    const c = r.cpuMsPerTask;
    const cpu = c ? [c.gateway, c.worker, c.broker, c.database, c.loadgen, c.peer].map((v) => (v === undefined ? '–' : v.toFixed(2))).join(' · ') : '';
    const note = [r.rssMb !== undefined ? `RSS ${r.rssMb} MB` : '', r.note ?? ''].filter(Boolean).join('; ');
    lines.push(
      `| ${r.scenario} | ${r.variant} | ${fmt(r.throughput)} | ${fmt(r.submitRate)} | ${fmt(r.latency?.p50)} | ${fmt(r.latency?.p99)} | ${fmt(r.latency?.p999)} | ${fmt(r.ok)} | ${fmt(r.errors)} | ${cpu} | ${note} |`,
    );
  }
  return lines.join('\n');
}

/**
 * What the machine allows: a row's CPU per task summed over every process measured (gateway,
 * worker, broker, database, load generator) bounds its rate at cores × 1000 / sum tasks per
 * second, whatever the waits. A target that needs more than that bound cannot be met by
 * removing waits; only by spending less CPU per task (or having more cores).
 */
function cpuBudget(rows: Row[]): string {
  const cores = cpus().length;
  const lim64 = find(rows, 'limit', /^closed 64$/)?.throughput;
  const pipeline = find(rows, 'limit', /^async/)?.throughput;
  const celeryStrict = find(rows, 'celery', /^async .*prefetch 1$/)?.throughput;
  const bull16 = find(rows, 'bullmq', /waitUntilFinished, 16/)?.throughput;
  const need = (base: number | undefined, factor: number): number | undefined => (base === undefined ? undefined : Math.round(base * factor));
  const lines = [
    `| row | per s | CPU ms/task, all processes | bound on ${cores} cores, per s | the target needs, per s |`,
    '|---|---:|---:|---:|---:|',
  ];
  const add = (label: string, row: Row | undefined, needed: number | undefined): void => {
    const total = cpuTotal(row?.cpuMsPerTask);
    const bound = total ? Math.round((cores * 1000) / total) : undefined;
    lines.push(`| ${label} | ${fmt(row?.throughput)} | ${fmt(total)} | ${fmt(bound)} | ${fmt(needed)} |`);
  };
  add('limit, closed 64', find(rows, 'limit', /^closed 64$/), undefined);
  add('limit, async confirm+ack pipeline', find(rows, 'limit', /^async/), undefined);
  add('rpc, closed 64', find(rows, 'rpc', /^closed 64$/), need(lim64, 0.5));
  add('rpc, closed 16', find(rows, 'rpc', /^closed 16$/), bull16);
  add('async, one task per request', find(rows, 'async', /^one task/), need(celeryStrict, 2.5));
  add('async, batches', find(rows, 'async', /^batch/), need(pipeline, 0.5));
  for (const row of rows.filter((r) => r.scenario === 'http')) add(`HTTP hop alone: ${row.variant}`, row, undefined);
  for (const row of rows.filter((r) => r.scenario === 'client' && /64/.test(r.variant))) add(`client, ${row.variant}`, row, need(lim64, 0.7));
  return lines.join('\n');
}

function targetTable(list: Target[]): string {
  const lines = ['| target | measured | ratio | met |', '|---|---|---:|---|'];
  for (const t of list) lines.push(`| ${t.target} | ${t.measured} | ${t.ratio ?? ''} | ${t.met === undefined ? 'not measured' : t.met ? 'yes' : 'no'} |`);
  return lines.join('\n');
}

/** The budget tables, with what their numbers are; empty when the budget scenario did not run. */
function budgetSection(list: Budget[]): string {
  if (list.length === 0) return '';
  const intro = [
    '### Where the time goes, hop by hop',
    '',
    'Stamps: performance.timeOrigin + performance.now() in each process (gateway, worker, client), merged by task id.',
    'Steps between processes are accurate to each process\'s time origin (about 0.2 ms on one machine). Stamping has a cost: see the budget rows, rpc with tracing off and on.',
    'Share = a chain step\'s mean ÷ the end-to-end mean over the tasks from p40 to p60 of end to end; the chain\'s shares sum to 100 %.',
  ].join('\n');
  return `${intro}\n\n${list.map(budgetTable).join('\n\n')}\n\n`;
}

async function main(): Promise<void> {
  const started = new Date();
  const loadBefore = loadavg();
  const rows: Row[] = [];
  for (const [name, run] of scenarios) {
    if (only && !only.includes(name)) continue;
    const t0 = Date.now();
    process.stderr.write(`bench: ${name}...\n`);
    try {
      rows.push(...(await run()));
    } catch (err) {
      rows.push({ scenario: name, variant: 'all', note: `failed: ${err instanceof Error ? err.message : String(err)}` });
    }
    process.stderr.write(`bench: ${name} done in ${Math.round((Date.now() - t0) / 1000)} s\n`);
  }
  const goals = targets(rows);
  const result = {
    startedAt: started.toISOString(),
    seconds: Math.round((Date.now() - started.getTime()) / 1000),
    quick,
    queueType,
    // The 1, 5 and 15 minute load averages when the run started and ended: this machine is shared.
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadAverage: { start: loadBefore, end: loadavg() } },
    rows,
    targets: goals,
    budget: budgets,
  };
  mkdirSync(`${ROOT}bench/results`, { recursive: true });
  const file = `${ROOT}bench/results/${started.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}${queueType === 'quorum' ? '-quorum' : ''}.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  const series = [
    { label: 'limit (bare amqplib)', color: '#1f77b4', scenario: 'limit' },
    { label: 'Celerity ?wait=', color: '#d62728', scenario: 'rpc' },
  ].map((s) => ({
    label: s.label,
    color: s.color,
    points: rows
      .filter((r) => r.scenario === s.scenario && r.latency && r.throughput !== undefined && /^(closed|open)/.test(r.variant))
      .map((r) => [r.throughput!, r.latency!.p50, r.latency!.p99] as [number, number, number]),
  }));
  // The chart in docs/ shows the default set-up (classic queues).
  if (queueType === 'classic' && series.every((s) => s.points.length > 0)) {
    mkdirSync(`${ROOT}docs`, { recursive: true });
    writeFileSync(`${ROOT}docs/performance-latency.svg`, latencyChart(`Latency against throughput (${started.toISOString().slice(0, 16)}Z${quick ? ', quick' : ''})`, series));
  }
  process.stdout.write(`${table(rows)}\n\n${targetTable(goals)}\n\n${cpuBudget(rows)}\n\n${budgetSection(budgets)}written: ${file}\n`);
}

await main();
