/**
 * Scenario "streams": one gateway holding many open task event streams
 * (`GET /api/v1/tasks/{id}/events`, Server-Sent Events), one task each. The tasks are
 * submitted first through a second gateway (batches, no worker: every task stays PENDING, so
 * every stream stays open; the measured gateway holds streams only, as in a fleet where
 * browsers follow tasks submitted anywhere),
 * then the streams are opened, each on a socket of its own, and counted open once their first
 * event (the task's state) arrived. With all of them open, the gateway's RSS is sampled and
 * another process polls `/healthz` every 10 ms for `seconds` (long enough for a heartbeat
 * round, every 15 s, to fall inside).
 */
import { request, type ClientRequest } from 'node:http';
import { DEMO_APP, rssMb, spawnNode, stop, waitForLine } from '../lib/procs.js';
import { httpRequest, makeAgent } from '../lib/load.js';
import { histogram, latency, recordMs, type Row } from '../lib/stats.js';
import { withStack } from './celerity.js';

/** Streams being opened at once. */
const OPENING = 200;
/** Tasks per batch submit. */
const BATCH = 1000;

/** Opens one stream; resolves with the request once its first event arrived. */
function openStream(port: number, id: string): Promise<ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/api/v1/tasks/${id}/events`, agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`status ${res.statusCode}`));
        return;
      }
      let seen = '';
      const onData = (chunk: Buffer): void => {
        seen += chunk.toString();
        if (seen.includes('event: state')) {
          res.off('data', onData);
          // Keep reading (heartbeats), as a browser does.
          res.resume();
          resolve(req);
        }
      };
      res.on('data', onData);
    });
    req.on('error', reject);
    req.end();
  });
}

export async function runStreams(options: { streams: number; seconds: number }): Promise<Row[]> {
  // The streams plus the probe's and the submits' connections.
  return withStack(undefined, async (stack) => {
    const agent = makeAgent(4);
    const open: ClientRequest[] = [];
    let errors = 0;
    const submitter = spawnNode('cli.js', ['gateway', '--app', DEMO_APP], { ...stack.env, GATEWAY_PORT: '0', LOG_LEVEL: 'info' });
    try {
      const submitPort = Number(await waitForLine(submitter.child, /listening on http:\/\/[\d.]+:(\d+)/));
      const ids: string[] = [];
      while (ids.length < options.streams) {
        const n = Math.min(BATCH, options.streams - ids.length);
        const body = JSON.stringify({ tasks: Array.from({ length: n }, () => ({ name: 'demo.add', args: [1, 2], options: { queue: stack.queue } })) });
        const r = await httpRequest(agent, submitPort, 'POST', '/api/v1/tasks', body, 60_000);
        if (r.status !== 202) throw new Error(`batch submit answered ${r.status}: ${r.body.slice(0, 200)}`);
        ids.push(...(JSON.parse(r.body) as { tasks: { id: string }[] }).tasks.map((t) => t.id));
      }
      const pid = stack.gateway?.pid;
      const before = rssMb(pid) ?? 0;
      const openStarted = Date.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: OPENING }, async () => {
          while (next < ids.length) {
            const id = ids[next++]!;
            await openStream(stack.port, id).then(
              (req) => open.push(req),
              () => errors++,
            );
          }
        }),
      );
      const openSeconds = (Date.now() - openStarted) / 1000;
      let peak = rssMb(pid) ?? 0;
      const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid) ?? 0)), 250);
      const probe = spawnNode('bench/probe.js', [String(stack.port), '/healthz', String(options.seconds), '10'], {});
      let out = '';
      probe.child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await new Promise((resolve) => probe.child.once('exit', resolve));
      clearInterval(sampler);
      const held = rssMb(pid) ?? 0;
      if (process.env.BENCH_HEAPSNAPSHOT && pid) {
        // With BENCH_GATEWAY_NODE_ARGS=--heapsnapshot-signal=SIGUSR2: a snapshot of the gateway holding the streams.
        process.kill(pid, 'SIGUSR2');
        await new Promise((resolve) => setTimeout(resolve, 20_000));
      }
      const result = JSON.parse(out) as { latencies: number[]; errors: number };
      const hist = histogram();
      for (const ms of result.latencies) recordMs(hist, ms);
      const metrics = await httpRequest(agent, stack.port, 'GET', '/metrics').catch(() => undefined);
      const gauge = metrics && /^celerity_event_streams_open\S* (\d+)/m.exec(metrics.body);
      const heapMb = metrics && /^nodejs_heap_size_used_bytes\S* (\S+)/m.exec(metrics.body);
      return [
        {
          scenario: 'streams',
          variant: `/healthz and gateway RSS with ${options.streams} event streams open`,
          latency: latency(hist),
          rssMb: peak,
          ok: open.length,
          errors: errors + result.errors,
          note: `${open.length} streams open (gateway's gauge: ${gauge?.[1] ?? '?'}), opened in ${openSeconds.toFixed(1)} s; RSS before the streams ${before} MB, with them ${held} MB, peak ${peak} MB (V8 heap used ${heapMb ? Math.round(Number(heapMb[1]) / 1e6) : '?'} MB); tasks submitted through another gateway; /healthz polled ${hist.totalCount} times over ${options.seconds} s`,
        },
      ];
    } finally {
      for (const req of open) req.destroy();
      agent.destroy();
      await stop(submitter.child);
    }
  }, { GATEWAY_MAX_CONNECTIONS: String(options.streams + 1000) });
}
