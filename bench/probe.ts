// The responsiveness probe: `node dist/bench/probe.js <port> <path> <seconds> <gapMs>` (the bench starts it).
// Polls one URL on one keep-alive socket from its own process, so the load generator's own
// pauses are not counted as the gateway's; prints {"latencies": [ms...], "errors": n}.
import { makeAgent, httpRequest } from './lib/load.js';

const [port, path, seconds, gapMs] = process.argv.slice(2);
const agent = makeAgent(1);
const latencies: number[] = [];
let errors = 0;
const end = Date.now() + Number(seconds) * 1000;
while (Date.now() < end) {
  const started = performance.now();
  try {
    const r = await httpRequest(agent, Number(port), 'GET', path ?? '/healthz', undefined, 10_000);
    if (r.status === 200) latencies.push(performance.now() - started);
    else errors++;
  } catch {
    errors++;
  }
  await new Promise((resolve) => setTimeout(resolve, Number(gapMs ?? 10)));
}
agent.destroy();
process.stdout.write(`${JSON.stringify({ latencies, errors })}\n`);
