/**
 * Peer: Python Celery (Debian's python3-celery, /usr/bin/python3) on the same RabbitMQ, with
 * the rpc:// backend. Two profiles, both acks_late: "strict" (prefetch multiplier 1, the
 * target's reference) and "tuned" (prefetch multiplier 64, no gossip/mingle/heartbeat).
 * Prefork pool with 2 processes (this machine's cores). Skipped with a row, not a crash,
 * when Celery is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import amqp from 'amqplib';
import { AMQP_URL, CpuMeter, ROOT, stop } from '../lib/procs.js';
import { histogram, latency, recordMs, type Row } from '../lib/stats.js';

const PYTHON = '/usr/bin/python3';
const PEERS = `${ROOT}bench/peers`;

function startWorker(queue: string, profile: 'strict' | 'tuned'): Promise<ChildProcess> {
  const args = ['-m', 'celery', '-A', 'celery_bench', 'worker', '-Q', queue, '-P', 'prefork', '-c', '2', '--loglevel', 'INFO', '-n', `bench-${queue}@%h`];
  if (profile === 'tuned') args.push('--without-gossip', '--without-mingle', '--without-heartbeat');
  const child = spawn(PYTHON, args, { cwd: PEERS, env: { ...process.env, AMQP_URL, BENCH_QUEUE: queue, BENCH_PROFILE: profile }, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = createInterface({ input: child.stderr });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the Celery worker did not report ready within 60 s')), 60_000);
    lines.on('line', (line) => {
      if (process.env.BENCH_DEBUG) process.stderr.write(`celery: ${line}\n`);
      if (/ ready\.$/.test(line)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the Celery worker exited (${code}) before it was ready`));
    });
  });
}

function runClient(queue: string, profile: string, args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['celery_bench.py', ...args], { cwd: PEERS, env: { ...process.env, AMQP_URL, BENCH_QUEUE: queue, BENCH_PROFILE: profile }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`celery_bench.py ${args.join(' ')} exited ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, unknown>);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

/** Waits until the queue has no ready message left (a few prefetched ones may still run). */
async function drained(queue: string, timeoutMs: number): Promise<boolean> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const { messageCount } = await channel.checkQueue(queue);
      if (messageCount === 0) return true;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return false;
  } finally {
    await connection.close();
  }
}

async function deleteQueue(queue: string): Promise<void> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    await channel.deleteQueue(queue).catch(() => undefined);
    await channel.deleteExchange(queue).catch(() => undefined);
  } finally {
    await connection.close();
  }
}

export interface CeleryOptions {
  asyncSeconds: number;
  rpcCallers: number[];
  rpcSeconds: number;
  profiles: ('strict' | 'tuned')[];
}

export async function runCelery(options: CeleryOptions): Promise<Row[]> {
  const ensure = spawnSync('bash', [`${ROOT}scripts/ensure-celery.sh`], { encoding: 'utf8' });
  if (ensure.status !== 0) {
    return [{ scenario: 'celery', variant: 'all', note: `skipped: Python Celery unavailable (${ensure.stderr.trim() || 'scripts/ensure-celery.sh failed'})` }];
  }
  const rows: Row[] = [];
  for (const profile of options.profiles) {
    const queue = `bench.celery.${randomBytes(4).toString('hex')}`;
    const label = profile === 'strict' ? 'acks_late, prefetch 1' : 'tuned: acks_late, prefetch 64, no gossip/mingle/heartbeat';
    let worker: ChildProcess | undefined;
    try {
      worker = await startWorker(queue, profile);
      const meter = new CpuMeter({ peer: worker.pid });
      meter.start();
      const t0 = performance.now();
      const sent = await runClient(queue, profile, ['async', String(options.asyncSeconds)]);
      const n = Number(sent.sent);
      const ok = await drained(queue, 180_000);
      const seconds = (performance.now() - t0) / 1000;
      rows.push({
        scenario: 'celery',
        variant: `async no-op, prefork -c 2, ${label}`,
        throughput: Math.round(n / seconds),
        submitRate: Math.round(n / Number(sent.seconds)),
        ok: n,
        errors: ok ? 0 : 1,
        cpuMsPerTask: meter.perTask(n),
        note: ok ? 'completion = sent / time until the queue had no ready message' : 'did not drain within 180 s',
      });
      for (const callers of options.rpcCallers) {
        meter.start();
        const r = await runClient(queue, profile, ['rpc', String(callers), String(options.rpcSeconds)]);
        const hist = histogram();
        const latencies = r.latencies as number[];
        for (const ms of latencies) recordMs(hist, ms);
        rows.push({
          scenario: 'celery',
          variant: `rpc:// ${callers} outstanding, ${label}`,
          throughput: Math.round(latencies.length / Number(r.seconds)),
          latency: latency(hist),
          ok: latencies.length,
          errors: 0,
          cpuMsPerTask: meter.perTask(latencies.length),
        });
      }
    } catch (err) {
      rows.push({ scenario: 'celery', variant: label, note: `failed: ${err instanceof Error ? err.message : String(err)}` });
    } finally {
      if (worker) await stop(worker, 'SIGTERM');
      await deleteQueue(queue).catch(() => undefined);
    }
  }
  return rows;
}
