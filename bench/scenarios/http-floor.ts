/**
 * `http`: the CPU floor of the gateway's HTTP hop. The same closed loop as `rpc` (64 callers,
 * keep-alive, ~60-byte JSON bodies) against a server that only speaks HTTP
 * (bench/peers/http-floor-server.ts): once on bare node:http, once through Express 5 and
 * express.json(). Its CPU per request, beside the gateway's in `rpc` and `async`, says how much
 * of the gateway's cost is HTTP itself, how much the framework, and how much Celerity's work.
 */
import { closedLoop, makeAgent } from '../lib/load.js';
import { CpuMeter, spawnNode, stop, waitForLine } from '../lib/procs.js';
import { latency, type Row } from '../lib/stats.js';

const VARIANTS = { bare: 'node:http only', 'express-raw': 'Express 5, body read by hand', express: 'Express 5 + express.json()' };

export async function runHttpFloor(options: { seconds: number }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const mode of ['bare', 'express-raw', 'express'] as const) {
    const server = spawnNode('bench/peers/http-floor-server.js', [mode], {});
    const agent = makeAgent(64);
    try {
      const port = Number(await waitForLine(server.child, /^port (\d+)$/));
      const target = { port, method: 'POST' as const, path: '/api/v1/tasks/demo.add', body: () => JSON.stringify({ args: [1, 2] }), expect: 202 };
      await closedLoop(agent, target, 8, { seconds: 1 }); // warm-up
      const meter = new CpuMeter({ gateway: server.pid });
      meter.start();
      const r = await closedLoop(agent, target, 64, { seconds: options.seconds });
      rows.push({
        scenario: 'http',
        variant: `${VARIANTS[mode]}, closed 64`,
        throughput: r.throughput,
        latency: latency(r.hist),
        ok: r.ok,
        errors: r.errors,
        cpuMsPerTask: meter.perTask(r.ok),
        note: 'no broker, no database: the HTTP hop alone (gw column = this server)',
      });
    } finally {
      agent.destroy();
      await stop(server.child);
    }
  }
  return rows;
}
