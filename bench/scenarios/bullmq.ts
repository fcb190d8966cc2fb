/**
 * Peer: BullMQ, what a Node user would pick instead, on two Redis servers: the local one
 * (127.0.0.1:6379 as configured) and a durable one the bench starts (`appendonly yes`,
 * `appendfsync everysec`; bench/lib/redis.ts). The worker runs in its own process (concurrency
 * 50); the bench process adds jobs with `addBulk` (async) and waits with `waitUntilFinished`
 * (request-reply). Redis's CPU is counted in the broker column, as RabbitMQ's is for Celerity.
 * If a Redis is not reachable its row says so instead of failing the bench.
 */
import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import { CpuMeter, spawnNode, stop, waitForLine, type Spawned } from '../lib/procs.js';
import { durableRedis, localRedis, type RedisTarget } from '../lib/redis.js';
import { histogram, latency, recordMs, type Row } from '../lib/stats.js';

type Connection = RedisTarget['connection'];
const PAD = randomBytes(64).toString('hex');

async function redisReachable(connection: Connection): Promise<string | undefined> {
  const probe = new Queue(`bench-probe-${randomBytes(4).toString('hex')}`, { connection: { ...connection, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 2000 } });
  probe.on('error', () => undefined);
  try {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([probe.getJobCounts(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), 3000)))]).finally(() =>
      clearTimeout(timer),
    );
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await probe.close().catch(() => undefined);
  }
}

export interface BullOptions {
  asyncSeconds: number;
  rpcCallers: number[];
  rpcSeconds: number;
}

export async function runBullmq(options: BullOptions): Promise<Row[]> {
  const rows = await runOn(localRedis(), options);
  let durable: RedisTarget | undefined;
  try {
    durable = await durableRedis();
    rows.push(...(await runOn(durable, options)));
  } catch (err) {
    rows.push({ scenario: 'bullmq', variant: 'durable Redis', note: `failed: ${err instanceof Error ? err.message : String(err)}` });
  } finally {
    await durable?.close();
  }
  return rows;
}

/** The durable server's rows say so in their variant: the targets compare against those. */
export const DURABLE = 'durable Redis';

async function runOn(redis: RedisTarget, options: BullOptions): Promise<Row[]> {
  const { connection } = redis;
  const on = redis.label.startsWith('durable') ? `, ${DURABLE}` : '';
  const unreachable = await redisReachable(connection);
  if (unreachable) return [{ scenario: 'bullmq', variant: `all${on}`, note: `skipped: Redis not reachable at ${connection.host}:${connection.port} (${unreachable})` }];
  const name = `bench-${randomBytes(4).toString('hex')}`;
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  // Every waitUntilFinished adds listeners for its job; many outstanding at once is the point here.
  queue.setMaxListeners(0);
  events.setMaxListeners(0);
  let worker: Spawned | undefined;
  const rows: Row[] = [];
  try {
    await events.waitUntilReady();
    worker = spawnNode('bench/peers/bullmq-worker.js', [name, '50'], { REDIS_HOST: connection.host, REDIS_PORT: String(connection.port) });
    await waitForLine(worker.child, /^ready$/);
    let done = 0;
    worker.child.stdout!.on('data', (chunk: Buffer) => {
      const m = /done (\d+)\s*$/.exec(chunk.toString());
      if (m?.[1]) done = Number(m[1]);
    });
    // Redis is BullMQ's broker: its CPU goes in that column (RabbitMQ's node is idle here).
    const meter = new CpuMeter({ broker: redis.pid, peer: worker.pid });
    const jobOpts = { removeOnComplete: true, removeOnFail: true };

    // Async: addBulk in chunks of 1000 for the duration, then wait for the worker to finish them.
    meter.start();
    const t0 = performance.now();
    const end = Date.now() + options.asyncSeconds * 1000;
    let sent = 0;
    while (Date.now() < end) {
      await queue.addBulk(Array.from({ length: 1000 }, (_, i) => ({ name: 'noop', data: { a: sent + i, b: 1, pad: PAD }, opts: jobOpts })));
      sent += 1000;
    }
    const submitSeconds = (performance.now() - t0) / 1000;
    const deadline = Date.now() + 180_000;
    while (done < sent && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const seconds = (performance.now() - t0) / 1000;
    rows.push({
      scenario: 'bullmq',
      variant: `async addBulk, worker concurrency 50${on}`,
      throughput: Math.round(done / seconds),
      submitRate: Math.round(sent / submitSeconds),
      ok: done,
      errors: sent - done,
      cpuMsPerTask: meter.perTask(done),
      note: redis.pid === undefined ? `${redis.label}; its CPU not found` : redis.label,
    });

    // Request-reply: `callers` jobs outstanding, each awaited with waitUntilFinished.
    for (const callers of options.rpcCallers) {
      const hist = histogram();
      let n = 0;
      let errors = 0;
      meter.start();
      const stopAt = Date.now() + options.rpcSeconds * 1000;
      const r0 = performance.now();
      await Promise.all(
        Array.from({ length: callers }, async () => {
          while (Date.now() < stopAt) {
            const s = performance.now();
            try {
              // Kept a while after completion: waitUntilFinished reads the finished job back.
              const job = await queue.add('add', { a: 1, b: 2 }, { removeOnComplete: { age: 300 }, removeOnFail: { age: 300 } });
              await job.waitUntilFinished(events, 30_000);
              recordMs(hist, performance.now() - s);
              n++;
            } catch {
              errors++;
            }
          }
        }),
      );
      rows.push({
        scenario: 'bullmq',
        variant: `waitUntilFinished, ${callers} outstanding${on}`,
        throughput: Math.round(n / ((performance.now() - r0) / 1000)),
        latency: latency(hist),
        ok: n,
        errors,
        cpuMsPerTask: meter.perTask(n),
        note: redis.label,
      });
    }
  } catch (err) {
    rows.push({ scenario: 'bullmq', variant: `all${on}`, note: `failed: ${err instanceof Error ? err.message : String(err)}` });
  } finally {
    if (worker) await stop(worker.child);
    await queue.obliterate({ force: true }).catch(() => undefined);
    await events.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
  }
  return rows;
}
