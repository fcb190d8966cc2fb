/**
 * The latency budget: where a task's time goes, hop by hop. A gateway and a worker (and, for
 * the Node client's flow, a client process) run with CELERITY_TRACE_FILE, so each stamps every
 * task at each hop (shared/src/core/trace.ts); the files are merged by task id (bench/lib/budget.ts)
 * and each phase's tasks are told apart by the time of their first hop. Phases: `?wait=` at 1
 * and 64 callers, one async task per request at 64 callers, batches, the Node client at 64 in
 * flight. Stamping costs something, so `?wait=` at 1 and 64 callers also runs on a second stack
 * without tracing, alternating with the traced one, and both rates are reported.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { traceNow } from '../../shared/src/core/trace.js';
import { budget, mergeById, parseTrace, within, type Budget, type Flow } from '../lib/budget.js';
import { addBody, closedLoop, makeAgent, type LoadResult, type Target } from '../lib/load.js';
import type { Stack } from '../lib/procs.js';
import { histogram, latency, type Row } from '../lib/stats.js';
import { drain, echoBody, withStack } from './celerity.js';
import { ClientLoad } from './client.js';

/** The worker's hops from delivery to its final commit and ack, beside a path that does not wait for them. */
const WORKER_SIDE: Flow['side'] = [
  ['publish', 'delivered'],
  ['delivered', 'admitted'],
  ['admitted', 'run.start'],
  ['run.start', 'run.end'],
  ['run.end', 'recorded'],
  ['recorded', 'acked'],
];

const WAIT_CHAIN: Flow['chain'] = ['http.in', 'validated', 'publish', 'delivered', 'admitted', 'run.start', 'run.end', 'reply.sent', 'reply.in', 'http.out'];
const WAIT_SIDE: Flow['side'] = [
  ['publish', 'confirm'],
  ['validated', 'pending.recorded'],
  ['run.end', 'recorded'],
  ['run.end', 'acked'],
];
const ASYNC_CHAIN: Flow['chain'] = ['http.in', 'validated', 'publish', 'confirm', 'http.out'];
const ASYNC_SIDE: Flow['side'] = [['validated', 'pending.recorded'], ...WORKER_SIDE, ['http.in', 'recorded']];
const CLIENT_CHAIN: Flow['chain'] = ['submit', 'publish', 'delivered', 'admitted', 'run.start', 'run.end', 'reply.sent', 'reply.in', 'result'];
const CLIENT_SIDE: Flow['side'] = [
  ['publish', 'confirm'],
  ['confirm', 'result'],
  ['run.end', 'recorded'],
  ['run.end', 'acked'],
];

export interface BudgetOptions {
  seconds: number;
  batchSize: number;
  batchCallers: number;
}

export interface BudgetResult {
  rows: Row[];
  budgets: Budget[];
}

/** One traced phase: the flow it measures and the window its first hop fell in. */
interface Phase {
  flow: Flow;
  from: number;
  to: number;
}

/** The `?wait=` rate with tracing off or on, over its two phases. */
function waitRow(callers: number, tracing: boolean, runs: LoadResult[]): Row {
  const hist = histogram();
  for (const r of runs) hist.add(r.hist);
  const ok = runs.reduce((n, r) => n + r.ok, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  return {
    scenario: 'budget',
    variant: `rpc closed ${callers}, tracing ${tracing ? 'on' : 'off'}`,
    throughput: Math.round(ok / seconds),
    latency: latency(hist),
    ok,
    errors: runs.reduce((n, r) => n + r.errors, 0),
    note: 'two phases, in the order off, on, on, off',
  };
}

async function phase(flow: Flow, run: () => Promise<unknown>): Promise<Phase> {
  const from = traceNow();
  await run();
  return { flow, from, to: traceNow() };
}

export async function runBudget(options: BudgetOptions): Promise<BudgetResult> {
  const rows: Row[] = [];
  const agent = makeAgent(256);
  const waitTarget = (stack: Stack): Target => ({ port: stack.port, method: 'POST', path: '/api/v1/tasks/demo.add?wait=30', body: addBody(stack.queue), expect: 200 });
  const dir = mkdtempSync(join(tmpdir(), 'celerity-budget-'));
  try {
    // Two stacks side by side, one without tracing and one with it; the idle one costs next to nothing.
    const phases = await withStack(64, (plain) =>
      withStack(
        64,
        async (traced) => {
          for (const stack of [plain, traced]) await closedLoop(agent, waitTarget(stack), 8, { seconds: 2 }); // warm-up
          const out: Phase[] = [];
          for (const callers of [1, 64]) {
            // Off, on, on, off: a drift of the machine's load during the four phases weighs on both alike.
            const off = await closedLoop(agent, waitTarget(plain), callers, { seconds: options.seconds });
            const on: LoadResult[] = [];
            out.push(
              await phase({ name: `?wait=, ${callers} caller${callers > 1 ? 's' : ''}`, chain: WAIT_CHAIN, side: WAIT_SIDE }, async () => {
                for (let i = 0; i < 2; i++) on.push(await closedLoop(agent, waitTarget(traced), callers, { seconds: options.seconds }));
              }),
            );
            const offAgain = await closedLoop(agent, waitTarget(plain), callers, { seconds: options.seconds });
            rows.push(waitRow(callers, false, [off, offAgain]), waitRow(callers, true, on));
          }
          const one = echoBody(traced.queue);
          let submitted = 0;
          out.push(
            await phase({ name: 'async, one task per request, 64 callers', chain: ASYNC_CHAIN, side: ASYNC_SIDE }, async () => {
              const r = await closedLoop(agent, { port: traced.port, method: 'POST', path: '/api/v1/tasks/demo.echo', body: one, expect: 202 }, 64, { seconds: options.seconds });
              submitted += r.ok;
              await drain(traced.schema, submitted, 120_000);
            }),
          );
          const batchBody = (): string => `{"tasks":[${Array.from({ length: options.batchSize }, () => one().replace(/^\{/, '{"name":"demo.echo",')).join(',')}]}`;
          out.push(
            await phase({ name: `async, batches of ${options.batchSize}, ${options.batchCallers} callers`, chain: ASYNC_CHAIN, side: ASYNC_SIDE }, async () => {
              const r = await closedLoop(agent, { port: traced.port, method: 'POST', path: '/api/v1/tasks', body: batchBody, expect: 202 }, options.batchCallers, { seconds: options.seconds });
              submitted += r.ok * options.batchSize;
              await drain(traced.schema, submitted, 180_000);
            }),
          );
          const client = await ClientLoad.start(traced, { CELERITY_TRACE_FILE: join(dir, 'client.ndjson') });
          try {
            out.push(await phase({ name: 'Node client, 64 in flight', chain: CLIENT_CHAIN, side: CLIENT_SIDE }, () => client.run(64, options.seconds)));
          } finally {
            await client.close();
          }
          return out;
        },
        { CELERITY_TRACE_FILE: join(dir, 'gateway.ndjson') },
        { CELERITY_TRACE_FILE: join(dir, 'worker.ndjson') },
      ),
    );
    // Every process has exited (each flushed its stamps on the way out).
    const tasks = mergeById(readdirSync(dir).flatMap((file) => parseTrace(readFileSync(join(dir, file), 'utf8'))));
    const budgets = phases.map((p) => budget(p.flow, within(tasks, p.flow.chain[0]!, p.from, p.to)));
    return { rows, budgets };
  } finally {
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
