/**
 * Scenario "flow": what flow control by key costs per task. One stack loads bench/flow-app.ts;
 * `?wait=` round trips at 16 callers run its three tasks in turn: bench.plain (no flow control),
 * bench.keyed (`concurrency`, one slot transaction at the start and one at the end) and
 * bench.rated (`rateLimit`, one reservation statement). The limits never bind, so the rows
 * differ only by the bookkeeping; CPU per task counts the gateway, the worker, RabbitMQ and
 * PostgreSQL.
 */
import { closedLoop, makeAgent } from '../lib/load.js';
import { CpuMeter, DIST } from '../lib/procs.js';
import { latency, type Row } from '../lib/stats.js';
import { withStack } from './celerity.js';

const FLOW_APP = `${DIST}bench/flow-app.js`;
const TASKS = ['bench.plain', 'bench.keyed', 'bench.rated'] as const;

export async function runFlow(options: { callers: number; seconds: number }): Promise<Row[]> {
  return withStack(
    64,
    async (stack) => {
      const rows: Row[] = [];
      const agent = makeAgent(256);
      const meter = new CpuMeter({ gateway: stack.gateway?.pid, worker: stack.worker?.pid }, { database: true });
      try {
        for (const task of TASKS) {
          let i = 0;
          const body = (): string => JSON.stringify({ args: [i++, 1], options: { queue: stack.queue } });
          const target = { port: stack.port, method: 'POST' as const, path: `/api/v1/tasks/${task}?wait=30`, body, expect: 200 };
          await closedLoop(agent, target, 4, { seconds: 1 }); // warm-up
          meter.start();
          const r = await closedLoop(agent, target, options.callers, { seconds: options.seconds });
          rows.push({ scenario: 'flow', variant: `?wait= ${options.callers} callers, ${task}`, throughput: r.throughput, latency: latency(r.hist), ok: r.ok, errors: r.errors, cpuMsPerTask: meter.perTask(r.ok) });
        }
      } finally {
        agent.destroy();
      }
      return rows;
    },
    {},
    {},
    FLOW_APP,
  );
}
