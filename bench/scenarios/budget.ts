/**
 * The latency budget: where a task's time goes, hop by hop. A gateway and a worker (and, for
 * the Node client's flow, a client process) run with CELERITY_TRACE_FILE, so each stamps every
 * task at each hop (shared/src/trace.ts); the files are merged by task id (bench/lib/budget.ts)
 * and each phase's tasks are told apart by the time of their first hop. Phases: `?wait=` at 1
 * and 64 callers, one async task per request at 64 callers, batches, the Node client at 64 in
 * flight. Stamping costs something, so the same run also measures `?wait=` at 64 callers on a
 * stack without tracing, and reports both rates.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { traceNow } from '../../shared/src/index.js';
import { budget, mergeById, parseTrace, within, type Budget, type Flow } from '../lib/budget.js';
import { addBody, closedLoop, makeAgent, type Target } from '../lib/load.js';
import { latency, type Row } from '../lib/stats.js';
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

async function phase(flow: Flow, run: () => Promise<unknown>): Promise<Phase> {
  const from = traceNow();
  await run();
  return { flow, from, to: traceNow() };
}

export async function runBudget(options: BudgetOptions): Promise<BudgetResult> {
  const rows: Row[] = [];
  const agent = makeAgent(256);
  const waitTarget = (port: number, queue: string): Target => ({ port, method: 'POST', path: '/api/v1/tasks/demo.add?wait=30', body: addBody(queue), expect: 200 });
  const rpc = async (port: number, queue: string, callers: number, tracing: boolean): Promise<void> => {
    const r = await closedLoop(agent, waitTarget(port, queue), callers, { seconds: options.seconds });
    rows.push({ scenario: 'budget', variant: `rpc closed ${callers}, tracing ${tracing ? 'on' : 'off'}`, throughput: r.throughput, latency: latency(r.hist), ok: r.ok, errors: r.errors });
  };
  const dir = mkdtempSync(join(tmpdir(), 'celerity-budget-'));
  try {
    // Without tracing first, the same way: warm-up, then 1 and 64 callers.
    await withStack(64, async (stack) => {
      await closedLoop(agent, waitTarget(stack.port, stack.queue), 8, { seconds: 2 });
      await rpc(stack.port, stack.queue, 1, false);
      await rpc(stack.port, stack.queue, 64, false);
    });
    const phases = await withStack(
      64,
      async (stack) => {
        await closedLoop(agent, waitTarget(stack.port, stack.queue), 8, { seconds: 2 });
        const out: Phase[] = [];
        out.push(await phase({ name: '?wait=, 1 caller', chain: WAIT_CHAIN, side: WAIT_SIDE }, () => rpc(stack.port, stack.queue, 1, true)));
        out.push(await phase({ name: '?wait=, 64 callers', chain: WAIT_CHAIN, side: WAIT_SIDE }, () => rpc(stack.port, stack.queue, 64, true)));
        const one = echoBody(stack.queue);
        let submitted = 0;
        out.push(
          await phase({ name: 'async, one task per request, 64 callers', chain: ASYNC_CHAIN, side: ASYNC_SIDE }, async () => {
            const r = await closedLoop(agent, { port: stack.port, method: 'POST', path: '/api/v1/tasks/demo.echo', body: one, expect: 202 }, 64, { seconds: options.seconds });
            submitted += r.ok;
            await drain(stack.schema, submitted, 120_000);
          }),
        );
        const batchBody = (): string => `{"tasks":[${Array.from({ length: options.batchSize }, () => one().replace(/^\{/, '{"name":"demo.echo",')).join(',')}]}`;
        out.push(
          await phase({ name: `async, batches of ${options.batchSize}, ${options.batchCallers} callers`, chain: ASYNC_CHAIN, side: ASYNC_SIDE }, async () => {
            const r = await closedLoop(agent, { port: stack.port, method: 'POST', path: '/api/v1/tasks', body: batchBody, expect: 202 }, options.batchCallers, { seconds: options.seconds });
            submitted += r.ok * options.batchSize;
            await drain(stack.schema, submitted, 180_000);
          }),
        );
        const client = await ClientLoad.start(stack, { CELERITY_TRACE_FILE: join(dir, 'client.ndjson') });
        try {
          out.push(await phase({ name: 'Node client, 64 in flight', chain: CLIENT_CHAIN, side: CLIENT_SIDE }, () => client.run(64, options.seconds)));
        } finally {
          await client.close();
        }
        return out;
      },
      { CELERITY_TRACE_FILE: join(dir, 'gateway.ndjson') },
      { CELERITY_TRACE_FILE: join(dir, 'worker.ndjson') },
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
