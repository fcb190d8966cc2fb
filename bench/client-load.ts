// The Node client's load: `node dist/bench/client-load.js <queue>` (the bench starts it, with
// AMQP_URL, DATABASE_URL, DATABASE_SCHEMA and optionally CELERITY_TRACE_FILE in its environment).
// A `createClient` of the package in a process of its own, so the bench process's pauses do not
// count, keeping N `submit()` + `handle.result()` in flight. Protocol: prints `ready` once
// connected and warmed up; each stdin line `go <inFlight> <seconds>` runs a closed loop and
// prints one JSON line {ok, errors, seconds, latencies (ms)}; `go <inFlight> <seconds> <result>` submits with that
// result mode (full, final, none); stdin closed = close and exit.
import { createInterface } from 'node:readline';
import { createClient } from '../shared/src/client/client.js';
import { startTrace, stopTrace } from '../shared/src/core/trace.js';
import { add } from '../examples/demo/tasks.js';

const queue = process.argv[2];
if (!queue) throw new Error('usage: client-load.js <queue>');
if (process.env.CELERITY_TRACE_FILE) startTrace(process.env.CELERITY_TRACE_FILE);
const client = await createClient({ tasks: [add] });

interface LoopResult {
  ok: number;
  errors: number;
  seconds: number;
  latencies: number[];
}

/** `inFlight` callers, each submitting its next task once the last one's result arrived. */
async function closedLoop(inFlight: number, seconds: number, result?: 'full' | 'final' | 'none'): Promise<LoopResult> {
  const latencies: number[] = [];
  let errors = 0;
  let i = 0;
  const end = Date.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < end) {
        const started = performance.now();
        i++;
        try {
          const handle = await client.submit(add, [i, 1_000_000 + i], {}, { queue, ...(result ? { result } : {}) });
          await handle.result({ timeoutMs: 30_000 });
          latencies.push(Math.round((performance.now() - started) * 1000) / 1000);
        } catch {
          errors++;
        }
      }
    }),
  );
  return { ok: latencies.length, errors, seconds: (performance.now() - t0) / 1000, latencies };
}

await closedLoop(8, 1); // warm-up (JIT, prepared statements), not reported
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const [command, inFlight, seconds, result] = line.split(' ');
  if (command !== 'go') continue;
  const mode = result === 'full' || result === 'final' || result === 'none' ? result : undefined;
  process.stdout.write(`${JSON.stringify(await closedLoop(Number(inFlight), Number(seconds), mode))}\n`);
}
await client.close();
stopTrace();
