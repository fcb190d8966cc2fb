/**
 * `memory`: the gateway's RSS with many `?wait=` requests held (no worker runs, so every wait
 * stays open), and in the same run a minimal Express app's RSS holding as many requests
 * (bench/peers/http-floor-server.ts `express-hold`): the RSS per held request of each.
 */
import { httpRequest, makeAgent } from '../lib/load.js';
import { rssMb, spawnNode, stop, waitForLine } from '../lib/procs.js';
import type { Row } from '../lib/stats.js';
import { withStack } from './celerity.js';

/** A minimal Express app's RSS per held request (express.json(), never answering), in the same run. */
async function expressHeld(waits: number, body: string): Promise<Row> {
  const server = spawnNode('bench/peers/http-floor-server.js', ['express-hold'], {});
  const agent = makeAgent(waits + 16);
  let held = 0;
  server.child.stdout!.on('data', (chunk: Buffer) => {
    const m = /done (\d+)\s*$/.exec(chunk.toString());
    if (m?.[1]) held = Number(m[1]);
  });
  const all: Promise<unknown>[] = [];
  try {
    const port = Number(await waitForLine(server.child, /^port (\d+)$/));
    const before = rssMb(server.pid) ?? 0;
    for (let i = 0; i < waits; i++) all.push(httpRequest(agent, port, 'POST', '/api/v1/tasks/demo.sleep?wait=120', body).catch(() => undefined));
    const deadline = Date.now() + 60_000;
    while (held < waits && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await new Promise((resolve) => setTimeout(resolve, 2000)); // settle, as for the gateway
    const after = rssMb(server.pid) ?? 0;
    const perHeldKb = Math.round(((after - before) * 1024 * 10) / Math.max(1, held)) / 10;
    return { scenario: 'memory', variant: `minimal Express app RSS with ${waits} requests held`, rssMb: after, ok: held, errors: waits - held, perHeldKb, note: `RSS before ${before} MB, holding ${after} MB; ${perHeldKb} KB per held request` };
  } finally {
    agent.destroy();
    await stop(server.child);
    await Promise.allSettled(all);
  }
}

/** Gateway RSS with `waits` requests held (no worker: every task stays queued, every wait stays open). */
export async function runMemory(options: { waits: number }): Promise<Row[]> {
  return withStack(undefined, async (stack) => {
    const agent = makeAgent(options.waits + 16);
    const probe = makeAgent(1);
    const pid = stack.gateway?.pid;
    const before = rssMb(pid) ?? 0;
    let peak = before;
    let inFlight = 0;
    let errors = 0;
    const body = JSON.stringify({ args: [1], options: { queue: stack.queue } });
    const all = Array.from({ length: options.waits }, () =>
      httpRequest(agent, stack.port, 'POST', '/api/v1/tasks/demo.sleep?wait=120', body).then(
        () => undefined,
        () => {
          errors++;
        },
      ),
    );
    try {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const metrics = await httpRequest(probe, stack.port, 'GET', '/metrics').catch(() => undefined);
        const m = metrics && /^celerity_rpc_in_flight\S* (\d+)/m.exec(metrics.body);
        inFlight = Number(m?.[1] ?? 0);
        peak = Math.max(peak, rssMb(pid) ?? 0);
        if (inFlight >= options.waits) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      // Settle: the in-flight count is reached; let GC and the PENDING writes catch up, keep the peak.
      for (let i = 0; i < 8; i++) {
        peak = Math.max(peak, rssMb(pid) ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const held = rssMb(pid) ?? 0;
      if (process.env.BENCH_DEBUG) {
        const m = await httpRequest(probe, stack.port, 'GET', '/metrics').catch(() => undefined);
        if (process.env.BENCH_HEAPSNAPSHOT) {
          process.kill(pid!, 'SIGUSR2');
          await new Promise((resolve) => setTimeout(resolve, 30_000));
        }
        process.stderr.write(`${(m?.body ?? '').split('\n').filter((l) => /^(nodejs_heap_size|nodejs_external|process_resident|nodejs_heap_space_size_used_bytes)/.test(l)).join('\n')}\n`);
      }
      const perHeldKb = Math.round(((held - before) * 1024 * 10) / Math.max(1, inFlight)) / 10;
      return [
        {
          scenario: 'memory',
          variant: `gateway RSS with ${options.waits} waits in flight`,
          rssMb: peak,
          ok: inFlight,
          errors,
          perHeldKb,
          note: `RSS before ${before} MB, while holding ${held} MB, peak ${peak} MB; ${inFlight} waits registered; ${perHeldKb} KB per held wait`,
        },
        await expressHeld(options.waits, body),
      ];
    } finally {
      agent.destroy();
      probe.destroy();
      await Promise.allSettled(all);
    }
  });
}
