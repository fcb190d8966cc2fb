/**
 * Celerity's scenarios, each on its own queue and schema with its own gateway and worker
 * processes: rpc (`?wait=`, also with the result modes `final` and `none`), async (202 submits
 * then drain, single and batch, by default and with `none`), responsiveness (`/healthz` under
 * 1,000 waits) and the seeds' load test. Memory is memory.ts.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { addBody, closedLoop, makeAgent, openLoop } from '../lib/load.js';
import { CpuMeter, DATABASE_URL, Stack, spawnNode } from '../lib/procs.js';
import { histogram, latency, recordMs, type Histogram, type Row } from '../lib/stats.js';
import { drainByMetrics, workerFinished } from '../lib/worker-count.js';

const PAD = randomBytes(64).toString('hex'); // demo.echo bodies of ~200 bytes

export function echoBody(queue: string, result?: 'none'): () => string {
  let i = 0;
  const options = result ? { queue, result } : { queue };
  return () => JSON.stringify({ args: [++i, PAD], options });
}

/** A migrated stack with a gateway (and a worker at `concurrency`, when given) for `fn`; deleted after. */
export async function withStack<T>(
  concurrency: number | undefined,
  fn: (stack: Stack) => Promise<T>,
  gatewayEnv: Record<string, string> = {},
  workerEnv: Record<string, string> = {},
  app?: string,
): Promise<T> {
  const stack = new Stack();
  if (app) stack.app = app;
  try {
    await stack.migrate();
    if (concurrency !== undefined) await stack.startWorker(concurrency, workerEnv);
    await stack.startGateway(gatewayEnv);
    return await fn(stack);
  } finally {
    await stack.close();
  }
}

export interface RpcOptions {
  callers: number[];
  seconds: number;
  openFractions: number[];
  /** Callers at which the result modes `final` and `none` run too (after the default's rows). */
  modeCallers: number[];
}

export async function runRpc(options: RpcOptions): Promise<Row[]> {
  return withStack(64, async (stack) => {
    const rows: Row[] = [];
    const agent = makeAgent(512);
    const target = { port: stack.port, method: 'POST' as const, path: '/api/v1/tasks/demo.add?wait=30', body: addBody(stack.queue), expect: 200 };
    const meter = new CpuMeter({ gateway: stack.gateway?.pid, worker: stack.worker?.pid }, { database: true });
    try {
      await closedLoop(agent, target, 8, { seconds: 2 }); // warm-up (JIT, prepared statements)
      let at64 = 0;
      for (const callers of options.callers) {
        meter.start();
        const r = await closedLoop(agent, target, callers, { seconds: options.seconds });
        if (callers === 64) at64 = r.throughput;
        rows.push({ scenario: 'rpc', variant: `closed ${callers}`, throughput: r.throughput, latency: latency(r.hist), ok: r.ok, errors: r.errors, cpuMsPerTask: meter.perTask(r.ok) });
      }
      for (const fraction of at64 > 0 ? options.openFractions : []) {
        const rate = Math.max(20, Math.round(at64 * fraction));
        meter.start();
        const r = await openLoop(agent, target, rate, options.seconds);
        rows.push({ scenario: 'rpc', variant: `open ${rate}/s`, throughput: r.throughput, latency: latency(r.hist), ok: r.ok, errors: r.errors, cpuMsPerTask: meter.perTask(r.ok) });
      }
      for (const result of ['final', 'none'] as const) {
        for (const callers of options.modeCallers) {
          meter.start();
          const r = await closedLoop(agent, { ...target, body: addBody(stack.queue, result) }, callers, { seconds: options.seconds });
          rows.push({ scenario: 'rpc', variant: `closed ${callers}, result ${result}`, throughput: r.throughput, latency: latency(r.hist), ok: r.ok, errors: r.errors, cpuMsPerTask: meter.perTask(r.ok) });
        }
      }
    } finally {
      agent.destroy();
    }
    return rows;
  });
}

/** Waits until `expected` tasks of the schema are final; returns completion stats from the rows. */
export async function drain(schema: string, expected: number, timeoutMs: number): Promise<{ done: number; completionRate: number; hist: ReturnType<typeof histogram> }> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    let done = 0;
    while (Date.now() < deadline) {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".tasks WHERE state IN ('SUCCESS', 'FAILURE')`);
      done = Number(rows[0]?.n ?? 0);
      if (done >= expected) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const span = await client.query<{ s: number | null }>(`SELECT extract(epoch FROM max(finished_at) - min(created_at))::float8 AS s FROM "${schema}".tasks`);
    const seconds = span.rows[0]?.s ?? 0;
    const hist = histogram();
    const lat = await client.query<{ ms: number }>(
      `SELECT (extract(epoch FROM finished_at - created_at) * 1000)::float8 AS ms FROM "${schema}".tasks WHERE finished_at IS NOT NULL`,
    );
    for (const row of lat.rows) recordMs(hist, row.ms);
    return { done, completionRate: seconds > 0 ? Math.round(done / seconds) : 0, hist };
  } finally {
    await client.end();
  }
}

export interface AsyncOptions {
  seconds: number;
  callers: number;
  batchSize: number;
  batchCallers: number;
  /** Worker concurrency (= prefetch): async tasks wait on the result write, so this bounds completion. */
  workerConcurrency: number;
}

export async function runAsync(options: AsyncOptions): Promise<Row[]> {
  const rows: Row[] = [];
  // `none` leaves no row to count completion from: the worker's metrics count it instead.
  for (const [mode, result] of [['single', undefined], ['batch', undefined], ['single', 'none'], ['batch', 'none']] as const) {
    rows.push(
      await withStack(options.workerConcurrency, async (stack) => {
        const agent = makeAgent(256);
        const meter = new CpuMeter({ gateway: stack.gateway?.pid, worker: stack.worker?.pid }, { database: true });
        try {
          const one = echoBody(stack.queue, result);
          const target =
            mode === 'single'
              ? { port: stack.port, method: 'POST' as const, path: '/api/v1/tasks/demo.echo', body: one, expect: 202 }
              : {
                  port: stack.port,
                  method: 'POST' as const,
                  path: '/api/v1/tasks',
                  body: () => `{"tasks":[${Array.from({ length: options.batchSize }, () => one().replace(/^\{/, '{"name":"demo.echo",')).join(',')}]}`,
                  expect: 202,
                };
          const metricsPort = stack.workerMetricsPort;
          if (result && metricsPort === undefined) throw new Error('the worker did not say its metrics port');
          const before = result ? await workerFinished(metricsPort!) : 0;
          meter.start();
          const t0 = performance.now();
          const r = await closedLoop(agent, target, mode === 'single' ? options.callers : options.batchCallers, { seconds: options.seconds });
          const submitted = r.ok * (mode === 'single' ? 1 : options.batchSize);
          const d: { done: number; completionRate: number; hist?: Histogram } = result ? await drainByMetrics(metricsPort!, before, submitted, t0, 180_000) : await drain(stack.schema, submitted, 180_000);
          return {
            scenario: 'async',
            variant: `${mode === 'single' ? `one task per request, ${options.callers} callers` : `batch of ${options.batchSize}, ${options.batchCallers} callers`}, worker concurrency ${options.workerConcurrency}${result ? `, result ${result}` : ''}`,
            throughput: d.completionRate,
            submitRate: Math.round(submitted / r.seconds),
            ...(d.hist ? { latency: latency(d.hist) } : {}),
            ok: d.done,
            errors: r.errors + (submitted - d.done),
            cpuMsPerTask: meter.perTask(d.done),
            note: result
              ? `completion = tasks the worker counted / time from the first submit; ${r.errors} refused submits, ${submitted - d.done} accepted tasks unfinished`
              : `latency = submit to finish (created_at to finished_at); ${r.errors} refused submits, ${submitted - d.done} accepted tasks unfinished`,
          } satisfies Row;
        } finally {
          agent.destroy();
        }
      }),
    );
  }
  return rows;
}

export async function runResponsiveness(options: { waits: number; seconds: number }): Promise<Row[]> {
  return withStack(options.waits, async (stack) => {
    const agent = makeAgent(options.waits + 16);
    try {
      const target = { port: stack.port, method: 'POST' as const, path: '/api/v1/tasks/demo.sleep?wait=60', body: () => JSON.stringify({ args: [2], options: { queue: stack.queue } }), expect: 200 };
      // Callers join over the first 2 s (one task's length), as independent clients would,
      // instead of all 1,000 submitting in the same millisecond and again every 2 s.
      const load = closedLoop(agent, target, options.waits, { seconds: options.seconds + 3, rampMs: 2000 });
      await new Promise((resolve) => setTimeout(resolve, 3000)); // let the waits pile up
      const probe = spawnNode('bench/probe.js', [String(stack.port), '/healthz', String(options.seconds), '10'], {});
      let out = '';
      probe.child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await new Promise((resolve) => probe.child.once('exit', resolve));
      const result = JSON.parse(out) as { latencies: number[]; errors: number };
      const hist = histogram();
      for (const ms of result.latencies) recordMs(hist, ms);
      if (process.env.BENCH_DEBUG) process.stderr.write(`healthz slow: ${JSON.stringify(result.latencies.flatMap((ms, i) => (ms > 50 ? [[i, Math.round(ms)]] : [])))}\n`);
      const r = await load;
      return [
        {
          scenario: 'responsiveness',
          variant: `/healthz with ${options.waits} demo.sleep(2) waits in flight`,
          throughput: r.throughput,
          latency: latency(hist),
          ok: hist.totalCount,
          errors: result.errors,
          note: `the ${options.waits} waiting callers completed ${r.ok} sleeps (${r.errors} errors); latency is /healthz's, polled from its own process`,
        },
      ];
    } finally {
      agent.destroy();
    }
  });
}

export async function runSeed(options: { runs: { requests: number; clients: number }[]; workerConcurrency: number }): Promise<Row[]> {
  return withStack(options.workerConcurrency, async (stack) => {
    const rows: Row[] = [];
    const meter = new CpuMeter({ gateway: stack.gateway?.pid, worker: stack.worker?.pid }, { database: true });
    for (const run of options.runs) {
      const agent = makeAgent(run.clients);
      try {
        const target = {
          port: stack.port,
          method: 'POST' as const,
          path: '/api/v1/tasks/demo.sleep?wait=10',
          body: () => JSON.stringify({ args: [1], options: { queue: stack.queue } }),
          expect: 200,
          timeoutMs: 3000,
        };
        meter.start();
        const r = await closedLoop(agent, target, run.clients, { total: run.requests });
        rows.push({
          scenario: 'seed',
          variant: `${run.requests} requests, ${run.clients} clients, 3 s timeout, 1 s task`,
          throughput: r.throughput,
          latency: latency(r.hist),
          ok: r.ok,
          errors: r.errors,
          cpuMsPerTask: meter.perTask(r.ok),
          note: `success ${((100 * r.ok) / run.requests).toFixed(1)}% (worker concurrency ${options.workerConcurrency})`,
        });
      } finally {
        agent.destroy();
      }
    }
    return rows;
  });
}

