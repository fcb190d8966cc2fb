// Quick measurement of the core pipeline (not the full harness): `npm run build && node dist/bench/quick.js`.
// Spawns a real gateway and worker against the local RabbitMQ/PostgreSQL and reports ?wait= round trips and async submit rate.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import amqp from 'amqplib';
import pg from 'pg';

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://celerity:celerity@127.0.0.1:5432/celerity';
const schema = `bench_${randomBytes(4).toString('hex')}`;
const queue = `bench.${randomBytes(4).toString('hex')}`;
// Compiled to dist/bench/quick.js: the compiled entry points are siblings under dist/.
const root = new URL('../', import.meta.url).pathname;
const env = { ...process.env, AMQP_URL, DATABASE_URL, DATABASE_SCHEMA: schema, LOG_LEVEL: 'warn', GATEWAY_ALLOWED_QUEUES: 'bench.*' };

function start(file: string, args: string[], extra: Record<string, string> = {}, nodeArgs: string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, `${root}${file.replace(/^dist\//, '')}`, ...args], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'inherit'] });
}

async function listening(child: ChildProcess): Promise<number> {
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      if (process.env.BENCH_DEBUG) console.error(line);
      const m = /listening on http:\/\/[\d.]+:(\d+)/.exec(line);
      if (m?.[1]) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

function post(port: number, path: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Closed loop: `callers` each send the next request when the previous one answers. */
async function closedLoop(port: number, path: string, callers: number, seconds: number, expect: number) {
  const latencies: number[] = [];
  let errors = 0;
  const end = Date.now() + seconds * 1000;
  const body = JSON.stringify({ args: [1, 2], options: { queue } });
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (Date.now() < end) {
        const s = process.hrtime.bigint();
        const r = await post(port, path, body);
        const ms = Number(process.hrtime.bigint() - s) / 1e6;
        if (r.status === expect) latencies.push(ms);
        else errors++;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  latencies.sort((a, b) => a - b);
  return { callers, rps: Math.round(latencies.length / elapsed), p50: pct(latencies, 50), p99: pct(latencies, 99), n: latencies.length, errors };
}

async function main(): Promise<void> {
  const migrate = start('dist/cli.js', ['migrate']);
  await new Promise((resolve) => migrate.once('exit', resolve));
  const worker = start('dist/cli.js', ['worker', '--app', 'dist/examples/demo/tasks.js', '--queues', queue, '--concurrency', '64', '--metrics-port', '0']);
  // BENCH_GATEWAY_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile the gateway.
  const gatewayNodeArgs = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const gateway = start('dist/cli.js', ['gateway', '--app', 'dist/examples/demo/tasks.js'], { GATEWAY_PORT: '0', LOG_LEVEL: 'info' }, gatewayNodeArgs);
  const port = await listening(gateway);
  try {
    await closedLoop(port, '/api/v1/tasks/demo.add?wait=10', 8, 2, 200); // warm-up
    const rows = [];
    for (const callers of [1, 64]) rows.push({ scenario: `?wait= demo.add`, ...(await closedLoop(port, '/api/v1/tasks/demo.add?wait=10', callers, 10, 200)) });
    rows.push({ scenario: 'async submit (202)', ...(await closedLoop(port, '/api/v1/tasks/demo.add', 64, 10, 202)) });
    console.log('| scenario | callers | req/s | p50 ms | p99 ms | requests | errors |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.scenario} | ${r.callers} | ${r.rps} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.n} | ${r.errors} |`);
  } finally {
    gateway.kill('SIGTERM');
    worker.kill('SIGTERM');
    await Promise.all([gateway, worker].map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once('exit', resolve)))));
    const connection = await amqp.connect(AMQP_URL);
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
    await channel.deleteExchange(queue);
    await connection.close();
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    agent.destroy();
  }
}

await main();
