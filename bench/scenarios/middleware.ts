/**
 * `middleware`: what each layer of the gateway's Express app costs per request. The gateway's
 * HTTP layer runs alone (bench/peers/gateway-http-server.ts: `createApp` over a stub submit
 * path, no broker, no database) under the same closed loop as `http` (64 callers,
 * `POST /api/v1/tasks/demo.add?wait=30`): its CPU per request beside the Express floor's, then
 * each layer's synchronous time, timed inside the process (median and mean below p99). Whole
 * runs without one layer each were tried first: on this shared machine their CPU per request
 * moved by more than a layer costs, so the in-process medians are what this scenario reports.
 */
import { closedLoop, makeAgent } from '../lib/load.js';
import { CpuMeter, spawnNode, stop, waitForLine } from '../lib/procs.js';
import { latency, type Row } from '../lib/stats.js';

async function measure(skip: string[], seconds: number, timing = false): Promise<{ row: Row; layers: string[]; timings?: Record<string, { p50: number; trimmedMean: number; n: number }> }> {
  const server = spawnNode('bench/peers/gateway-http-server.js', [skip.join(',')], timing ? { BENCH_LAYER_TIMING: '1' } : {});
  const agent = makeAgent(64);
  try {
    const line = await waitForLine(server.child, /^(port \d+ layers .*)$/);
    const port = Number(/^port (\d+)/.exec(line)?.[1]);
    const layers = JSON.parse(line.slice(line.indexOf('layers ') + 'layers '.length)) as string[];
    const target = { port, method: 'POST' as const, path: '/api/v1/tasks/demo.add?wait=30', body: () => JSON.stringify({ args: [1, 2] }), expect: 200 };
    await closedLoop(agent, target, 8, { seconds: 1 }); // warm-up
    const meter = new CpuMeter({ gateway: server.pid });
    meter.start();
    const r = await closedLoop(agent, target, 64, { seconds });
    const row: Row = {
      scenario: 'middleware',
      variant: skip.length === 0 ? 'the gateway app, every layer' : `without ${skip.join(', ')}`,
      throughput: r.throughput,
      latency: latency(r.hist),
      ok: r.ok,
      errors: r.errors,
      cpuMsPerTask: meter.perTask(r.ok),
      note: 'createApp over a stub submit path: HTTP and middleware only (gw column = this server)',
    };
    if (!timing) return { row, layers };
    const printed = waitForLine(server.child, /^timings (.*)$/);
    server.child.kill('SIGUSR2');
    return { row, layers, timings: JSON.parse(await printed) as Record<string, { p50: number; trimmedMean: number; n: number }> };
  } finally {
    agent.destroy();
    await stop(server.child);
  }
}

export async function runMiddleware(options: { seconds: number }): Promise<Row[]> {
  const whole = await measure([], options.seconds);
  const rows = [whole.row];
  // Each layer's own time, measured inside one process: medians stay put on a busy machine,
  // where the CPU of whole runs moves by more than a layer costs.
  const timed = await measure([], options.seconds, true);
  timed.row.variant = 'the gateway app, every layer timed';
  rows.push(timed.row);
  for (const [layer, t] of Object.entries(timed.timings ?? {})) {
    rows.push({ scenario: 'middleware', variant: `layer ${layer}`, ok: t.n, note: `p50 ${t.p50} µs, mean below p99 ${t.trimmedMean} µs (its synchronous part, until it passes the request on)` });
  }
  const again = await measure([], options.seconds);
  again.row.variant = 'the gateway app, every layer (again, at the end)';
  rows.push(again.row);
  return rows;
}
