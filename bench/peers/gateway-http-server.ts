/**
 * The gateway's HTTP layer alone, for the `middleware` scenario: `createApp` of the gateway with
 * its real layers (request metrics, the security router, the health, task, dead-letter, search
 * and batch routers) over a stub submit path that answers every `?wait=` at once with a finished
 * task, so no broker or database is involved. Started with a list of layers to leave out, its
 * CPU per request beside the full app's says what each layer costs.
 *
 * Usage: node dist/bench/peers/gateway-http-server.js [layer,...]
 * Prints `port <n> layers <json>` (every layer's name: `app:<i>:<name>`, and inside the security
 * router `security:<i>:<name>`), then the bench protocol (bench/lib/child.ts).
 */
import { createServer } from 'node:http';
import { Registry } from 'prom-client';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { pendingRecord, prepareSubmission } from '../../shared/src/submit/submission.js';
import { createApp, type AppDeps } from '../../gateway/src/app.js';
import { GatewayMetrics } from '../../gateway/src/metrics.js';
import { add } from '../../examples/demo/tasks.js';
import { serveBench } from '../lib/child.js';

interface Layer {
  name: string;
  handle: ((req: unknown, res: unknown, next: (err?: unknown) => void) => unknown) & { stack?: Layer[] };
}

/** Microseconds each layer ran before it passed the request on (or returned), per request. */
const samples = new Map<string, number[]>();

/**
 * Wraps a layer so the time from entering it to its call of `next` (or its return, whichever
 * comes first) is recorded: its own synchronous work plus Express's dispatch to it. A router
 * that does not match the path passes on at once; the one that answers is timed to its return.
 */
function timed(name: string, layer: Layer): void {
  const handle = layer.handle;
  const list: number[] = [];
  samples.set(name, list);
  const wrapped = function (this: unknown, req: unknown, res: unknown, next: (err?: unknown) => void): unknown {
    const t0 = performance.now();
    let t1: number | undefined;
    const result = handle.call(this, req, res, (err?: unknown) => {
      t1 ??= performance.now();
      next(err);
    });
    t1 ??= performance.now();
    if (list.length < 500_000) list.push((t1 - t0) * 1000);
    return result;
  };
  layer.handle = Object.assign(wrapped, handle.stack ? { stack: handle.stack } : {});
}

function summary(): Record<string, { p50: number; trimmedMean: number; n: number }> {
  const out: Record<string, { p50: number; trimmedMean: number; n: number }> = {};
  for (const [name, list] of samples) {
    const sorted = [...list].sort((a, b) => a - b);
    const kept = sorted.slice(0, Math.max(1, Math.floor(sorted.length * 0.99)));
    const mean = kept.reduce((a, b) => a + b, 0) / kept.length;
    out[name] = { p50: Math.round((sorted[Math.floor(sorted.length / 2)] ?? 0) * 10) / 10, trimmedMean: Math.round(mean * 10) / 10, n: sorted.length };
  }
  return out;
}

const skip = new Set((process.argv[2] ?? '').split(',').filter(Boolean));
/** Time each layer's synchronous part in this process (`BENCH_LAYER_TIMING=1`); SIGUSR2 prints `timings <json>`. */
const timing = process.env.BENCH_LAYER_TIMING === '1';
const catalogue = new Catalogue([add]);
let done = 0;
const deps = {
  logger: createSilentLogger(),
  metrics: new GatewayMetrics(new Registry()),
  maxBodyBytes: 1024 * 1024,
  maxWaitS: 60,
  maxBatch: 1000,
  isDraining: () => false,
  readiness: { broker: () => true, database: () => Promise.resolve() },
  submitter: {
    prepare: (name: string, body: unknown) => {
      const task = catalogue.get(name);
      if (!task) throw new Error(`unknown task ${name}`);
      return prepareSubmission(task, body);
    },
  },
  core: {
    submit: (submission: Parameters<typeof pendingRecord>[0]) => {
      done++;
      const task = { ...pendingRecord(submission), state: 'SUCCESS', result: 3, finishedAt: new Date(), worker: 'stub' };
      return Promise.resolve({ id: submission.id, replayed: false, published: true, task, finished: true, abandoned: false });
    },
  },
} as unknown as AppDeps;
const app = createApp(deps);

// Express 5 keeps the app's layers on app.router.stack; a Router's own layers on handle.stack.
const appLayers = (app as unknown as { router: { stack: Layer[] } }).router.stack;
const names: string[] = [];
const securityAt = appLayers.findIndex((layer, i) => layer.name === 'router' && i === appLayers.findIndex((l) => l.name === 'router'));
const security = appLayers[securityAt]?.handle.stack ?? [];
security.forEach((layer, i) => names.push(`security:${i}:${layer.name}`));
appLayers.forEach((layer, i) => names.push(`app:${i}:${layer.name}`));
const keep = (prefix: string) => (layer: Layer, i: number) => !skip.has(`${prefix}:${i}:${layer.name}`);
if (securityAt >= 0 && appLayers[securityAt]) appLayers[securityAt].handle.stack = security.filter(keep('security'));
(app as unknown as { router: { stack: Layer[] } }).router.stack = appLayers.filter(keep('app'));
if (timing) {
  // Inner layers first: the security router's own wrapper then times the router as a whole.
  security.forEach((layer, i) => timed(`security:${i}:${layer.name}`, layer));
  appLayers.forEach((layer, i) => timed(`app:${i}:${layer.name}`, layer));
  process.on('SIGUSR2', () => process.stdout.write(`timings ${JSON.stringify(summary())}\n`));
}

const server = createServer(app);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  // One line, so a reader waiting for it also has the layers.
  process.stdout.write(`port ${typeof address === 'object' && address ? address.port : 0} layers ${JSON.stringify(names)}\n`);
  serveBench(() => done, () => new Promise((resolve) => server.close(resolve)));
});
