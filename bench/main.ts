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
import { DURABLE, runBullmq } from './scenarios/bullmq.js';
import { runCelery } from './scenarios/celery.js';
import { runAsync, runResponsiveness, runRpc, runSeed } from './scenarios/celerity.js';
import { runMemory } from './scenarios/memory.js';
import { runClient } from './scenarios/client.js';
import { runHttpFloor } from './scenarios/http-floor.js';
import { runLimit } from './scenarios/limit.js';
import { runMiddleware } from './scenarios/middleware.js';
import { runStreams } from './scenarios/streams.js';
import { runFlow } from './scenarios/flow.js';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const queueType = process.argv.find((a) => a.startsWith('--queue-type='))?.slice('--queue-type='.length) ?? 'classic';
if (queueType !== 'classic' && queueType !== 'quorum') throw new Error(`--queue-type must be classic or quorum, got "${queueType}"`);
// Read by Stack (bench/lib/procs.ts), which gives its gateway and worker QUEUE_TYPES for its queue.
process.env.BENCH_QUEUE_TYPE = queueType;

const plan = quick
  ? {
      limit: { callers: [1, 16, 64], seconds: 3, openFractions: [0.5], asyncSeconds: 3 },
      rpc: { callers: [1, 16, 64], seconds: 3, openFractions: [0.5], modeCallers: [64] },
      async: { seconds: 4, callers: 64, batchSize: 200, batchCallers: 4, workerConcurrency: Number(process.env.BENCH_ASYNC_CONCURRENCY ?? 64) },
      responsiveness: { waits: 1000, seconds: 4 },
      seed: { runs: [{ requests: 100, clients: 10 }, { requests: 300, clients: 100 }], workerConcurrency: 128 },
      memory: { waits: 2000 },
      streams: { streams: 2000, seconds: 5 },
      celery: { asyncSeconds: 3, rpcCallers: [1, 16], rpcSeconds: 3, profiles: ['strict'] as ('strict' | 'tuned')[] },
      bullmq: { asyncSeconds: 2, rpcCallers: [16], rpcSeconds: 3 },
      client: { inFlight: [1, 16, 64], seconds: 3, modes: [[16, 'none'], [64, 'none']] as [number, 'final' | 'none'][] },
      budget: { seconds: 3, batchSize: 200, batchCallers: 4 },
      http: { seconds: 3 },
      flow: { callers: 16, seconds: 3 },
    }
  : {
      limit: { callers: [1, 16, 64, 256], seconds: 6, openFractions: [0.25, 0.5, 0.75], asyncSeconds: 10 },
      rpc: { callers: [1, 16, 64, 256], seconds: 6, openFractions: [0.25, 0.5, 0.75, 0.9], modeCallers: [16, 64] },
      async: { seconds: 30, callers: 64, batchSize: 200, batchCallers: 4, workerConcurrency: Number(process.env.BENCH_ASYNC_CONCURRENCY ?? 64) },
      responsiveness: { waits: 1000, seconds: 10 },
      seed: { runs: [{ requests: 1000, clients: 10 }, { requests: 3000, clients: 100 }], workerConcurrency: 128 },
      memory: { waits: 10_000 },
      streams: { streams: 10_000, seconds: 20 },
      celery: { asyncSeconds: 10, rpcCallers: [1, 16], rpcSeconds: 8, profiles: ['strict', 'tuned'] as ('strict' | 'tuned')[] },
      bullmq: { asyncSeconds: 5, rpcCallers: [16], rpcSeconds: 8 },
      client: { inFlight: [1, 16, 64], seconds: 6, modes: [[16, 'final'], [16, 'none'], [64, 'none']] as [number, 'final' | 'none'][] },
      budget: { seconds: 6, batchSize: 200, batchCallers: 4 },
      http: { seconds: 6 },
      flow: { callers: 16, seconds: 8 },
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
  ['flow', () => runFlow(plan.flow)],
  [
    'budget',
    async () => {
      const result = await runBudget(plan.budget);
      budgets.push(...result.budgets);
      return result.rows;
    },
  ],
  ['http', () => runHttpFloor(plan.http)],
  ['middleware', () => runMiddleware(plan.http)],
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

/** A row's rate with its CPU per task over every process measured: what each target reads. */
function rateAndCpu(row: Row | undefined): string {
  if (!row) return '-';
  const cpu = cpuTotal(row.cpuMsPerTask);
  return `${row.throughput ?? '-'}/s (${cpu ?? '-'} ms CPU/task)`;
}

/** Issue 26's targets: ratios within the run, each with the rows' CPU per task over every process. */
function targets(rows: Row[]): Target[] {
  const out: Target[] = [];
  const lim64 = find(rows, 'limit', /^closed 64$/);
  const rpc64 = find(rows, 'rpc', /^closed 64$/);
  const rpc64None = find(rows, 'rpc', /^closed 64, result none$/);
  const rpc64Final = find(rows, 'rpc', /^closed 64, result final$/);
  const floor = find(rows, 'http', /express\.json/);
  const bull16 = find(rows, 'bullmq', new RegExp(`waitUntilFinished, 16 outstanding, ${DURABLE}`));
  const client16 = find(rows, 'client', /^16 in flight$/);
  const client16None = find(rows, 'client', /^16 in flight, result none$/);
  const celeryStrict = find(rows, 'celery', /^async .*prefetch 1$/);
  const singleNone = find(rows, 'async', /^one task.*result none$/);
  const batchNone = find(rows, 'async', /^batch.*result none$/);
  const pipeline = find(rows, 'limit', /^async/);
  const health = find(rows, 'responsiveness', /healthz/);
  const memory = find(rows, 'memory', /^gateway RSS/);
  const expressHeld = find(rows, 'memory', /^minimal Express/);
  const push = (target: string, measured: string, r: number | undefined, met: (r: number) => boolean): void => {
    out.push({ target, measured, ...(r !== undefined ? { ratio: r } : {}), met: r === undefined ? undefined : met(r) });
  };
  const cpu = (row: Row | undefined): number | undefined => cpuTotal(row?.cpuMsPerTask);
  for (const [label, row] of [['', rpc64], [', result final', rpc64Final], [', result none', rpc64None]] as const) {
    push(`?wait= 64 callers${label}: CPU per round trip, all processes <= 3.5 x the limit's (closed 64)`, `${cpu(row) ?? '-'} vs ${cpu(lim64) ?? '-'} ms`, ratio(cpu(row), cpu(lim64)), (v) => v <= 3.5);
  }
  const gw = (row: Row | undefined): number | undefined => row?.cpuMsPerTask?.gateway;
  push('gateway CPU per ?wait= (64 callers) <= 1.5 x Express + express.json() floor', `${gw(rpc64) ?? '-'} vs ${gw(floor) ?? '-'} ms`, ratio(gw(rpc64), gw(floor)), (v) => v <= 1.5);
  for (const [label, row] of [['', client16], [', result none', client16None]] as const) {
    push(`Node client 16 in flight${label} >= 1.0 x BullMQ waitUntilFinished 16, durable Redis: rate`, `${rateAndCpu(row)} vs ${rateAndCpu(bull16)}`, ratio(row?.throughput, bull16?.throughput), (v) => v >= 1);
    push(`Node client 16 in flight${label} >= 1.0 x BullMQ 16, durable Redis: CPU per task (BullMQ's ÷ the client's)`, `${cpu(row) ?? '-'} vs ${cpu(bull16) ?? '-'} ms`, ratio(cpu(bull16), cpu(row)), (v) => v >= 1);
  }
  push('async one per request, result none >= 3 x Celery strict', `${rateAndCpu(singleNone)} vs ${rateAndCpu(celeryStrict)}`, ratio(singleNone?.throughput, celeryStrict?.throughput), (v) => v >= 3);
  push('async batches, result none >= 0.4 x bare confirm+ack pipeline', `${rateAndCpu(batchNone)} vs ${rateAndCpu(pipeline)}`, ratio(batchNone?.throughput, pipeline?.throughput), (v) => v >= 0.4);
  push('RSS per held ?wait= <= 1.3 x a minimal Express app per held request', `${memory?.perHeldKb ?? '-'} vs ${expressHeld?.perHeldKb ?? '-'} KB`, ratio(memory?.perHeldKb, expressHeld?.perHeldKb), (v) => v <= 1.3);
  // No /healthz answer at all is not a met target.
  const p99 = health?.ok ? health.latency?.p99 : undefined;
  out.push({ target: '/healthz p99 < 20 ms with 1,000 waits', measured: `${p99 ?? '-'} ms`, ...(p99 !== undefined ? { ratio: ratio(p99, 20)! } : {}), met: p99 === undefined ? undefined : p99 < 20 });
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
  const pipeline = find(rows, 'limit', /^async/)?.throughput;
  const celeryStrict = find(rows, 'celery', /^async .*prefetch 1$/)?.throughput;
  const bull16 = find(rows, 'bullmq', new RegExp(`waitUntilFinished, 16 outstanding, ${DURABLE}`))?.throughput;
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
  for (const row of rows.filter((r) => r.scenario === 'rpc' && /^closed (16|64)/.test(r.variant))) add(`rpc, ${row.variant}`, row, undefined);
  for (const row of rows.filter((r) => r.scenario === 'async')) add(`async, ${row.variant}`, row, /result none/.test(row.variant) ? need(/^batch/.test(row.variant) ? pipeline : celeryStrict, /^batch/.test(row.variant) ? 0.4 : 3) : undefined);
  for (const row of rows.filter((r) => r.scenario === 'http')) add(`HTTP hop alone: ${row.variant}`, row, undefined);
  for (const row of rows.filter((r) => r.scenario === 'client' && !/^1 in/.test(r.variant))) add(`client, ${row.variant}`, row, /^16/.test(row.variant) ? bull16 : undefined);
  for (const row of rows.filter((r) => r.scenario === 'bullmq' && r.throughput !== undefined)) add(`BullMQ, ${row.variant}`, row, undefined);
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
