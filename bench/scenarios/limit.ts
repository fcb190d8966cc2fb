/**
 * Scenario "limit": the same round trip as Celerity (persistent message on a durable queue,
 * publisher confirm, late ack, reply on a reply-to queue) with a bare amqplib client and a
 * bare amqplib server in another process, no HTTP and no database: the physical limit of this
 * design on this machine. Also the bare confirm + ack pipeline for async work.
 */
import { randomBytes } from 'node:crypto';
import amqp, { type ConfirmChannel } from 'amqplib';
import { AMQP_URL, CpuMeter, spawnNode, stop, waitForLine, type Spawned } from '../lib/procs.js';
import { histogram, latency, recordMs, type Histogram, type Row } from '../lib/stats.js';
import { openLoopSchedule } from '../lib/load.js';

const PAYLOAD = randomBytes(100).toString('hex'); // 200 bytes

interface Client {
  channel: ConfirmChannel;
  replyQueue: string;
  pending: Map<string, () => void>;
  close: () => Promise<void>;
}

async function connectClient(): Promise<Client> {
  const connection = await amqp.connect(AMQP_URL, { noDelay: true });
  const channel = await connection.createConfirmChannel();
  const { queue: replyQueue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
  const pending = new Map<string, () => void>();
  await channel.consume(
    replyQueue,
    (m) => {
      const id = m?.properties.correlationId as string | undefined;
      if (id) pending.get(id)?.();
    },
    { noAck: true },
  );
  return { channel, replyQueue, pending, close: () => connection.close() };
}

let seq = 0;

/** One round trip: publish (persistent, mandatory, confirmed) and wait for both confirm and reply. */
function roundTrip(client: Client, queue: string): Promise<void> {
  const id = `${process.pid}-${++seq}`;
  const replied = new Promise<void>((resolve) => client.pending.set(id, resolve));
  const confirmed = new Promise<void>((resolve, reject) => {
    client.channel.publish('', queue, Buffer.from(PAYLOAD), { persistent: true, mandatory: true, replyTo: client.replyQueue, correlationId: id, contentType: 'application/json' }, (err: unknown) =>
      err ? reject(err instanceof Error ? err : new Error('the broker did not confirm the message')) : resolve(),
    );
  });
  return Promise.all([replied, confirmed]).then(() => {
    client.pending.delete(id);
  });
}

async function closedLoop(client: Client, queue: string, callers: number, seconds: number): Promise<{ hist: Histogram; n: number; seconds: number }> {
  const hist = histogram();
  let n = 0;
  const end = Date.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (Date.now() < end) {
        const s = performance.now();
        await roundTrip(client, queue);
        recordMs(hist, performance.now() - s);
        n++;
      }
    }),
  );
  return { hist, n, seconds: (performance.now() - t0) / 1000 };
}

async function openLoop(client: Client, queue: string, rate: number, seconds: number): Promise<{ hist: Histogram; n: number; seconds: number }> {
  const hist = histogram();
  const elapsed = await openLoopSchedule(rate, seconds, (scheduled) => roundTrip(client, queue).then(() => recordMs(hist, performance.now() - scheduled)));
  return { hist, n: Math.round(rate * seconds), seconds: elapsed };
}

export interface LimitOptions {
  callers: number[];
  seconds: number;
  /** Arrival rates as fractions of the closed-loop rate at 64 callers. */
  openFractions: number[];
  asyncSeconds: number;
}

export async function runLimit(options: LimitOptions): Promise<Row[]> {
  const queue = `bench.limit.${randomBytes(4).toString('hex')}`;
  const rows: Row[] = [];
  let server: Spawned | undefined;
  const client = await connectClient();
  try {
    await client.channel.assertQueue(queue, { durable: true });
    server = spawnNode('bench/limit-server.js', [queue, '64'], { AMQP_URL });
    await waitForLine(server.child, /^ready$/);
    const meter = new CpuMeter({ worker: server.pid });
    await closedLoop(client, queue, 8, 1); // warm-up
    let at64 = 0;
    for (const callers of options.callers) {
      meter.start();
      const r = await closedLoop(client, queue, callers, options.seconds);
      const throughput = Math.round(r.n / r.seconds);
      if (callers === 64) at64 = throughput;
      rows.push({ scenario: 'limit', variant: `closed ${callers}`, throughput, latency: latency(r.hist), ok: r.n, errors: 0, cpuMsPerTask: meter.perTask(r.n) });
    }
    for (const fraction of at64 > 0 ? options.openFractions : []) {
      const rate = Math.max(50, Math.round(at64 * fraction));
      meter.start();
      const r = await openLoop(client, queue, rate, options.seconds);
      rows.push({ scenario: 'limit', variant: `open ${rate}/s`, throughput: Math.round(r.n / r.seconds), latency: latency(r.hist), ok: r.n, errors: 0, cpuMsPerTask: meter.perTask(r.n) });
    }
    rows.push(await asyncPipeline(client, queue, server, meter, options.asyncSeconds));
  } finally {
    if (server) await stop(server.child);
    await client.channel.deleteQueue(queue).catch(() => undefined);
    await client.close().catch(() => undefined);
  }
  return rows;
}

/**
 * The bare confirm + ack pipeline: publish persistent messages as fast as confirms allow
 * (1000 unconfirmed at most, as Celerity's publisher) for `seconds`, and let the server ack
 * them; completion rate = messages / time until the server has acked the last one.
 */
async function asyncPipeline(client: Client, queue: string, server: Spawned, meter: CpuMeter, seconds: number): Promise<Row> {
  let serverDone = 0;
  server.child.stdout!.on('data', (chunk: Buffer) => {
    const m = /done (\d+)\s*$/.exec(chunk.toString());
    if (m?.[1]) serverDone = Number(m[1]);
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const base = serverDone;
  meter.start();
  const t0 = performance.now();
  const end = Date.now() + seconds * 1000;
  let sent = 0;
  let inFlight = 0;
  const slots: (() => void)[] = [];
  while (Date.now() < end) {
    if (inFlight >= 1000) await new Promise<void>((resolve) => slots.push(resolve));
    inFlight++;
    sent++;
    const ok = client.channel.publish('', queue, Buffer.from(PAYLOAD), { persistent: true, mandatory: true, contentType: 'application/json' }, () => {
      inFlight--;
      slots.shift()?.();
    });
    if (!ok) await new Promise((resolve) => client.channel.once('drain', resolve));
    if (sent % 200 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await client.channel.waitForConfirms();
  const submitSeconds = (performance.now() - t0) / 1000;
  while (serverDone - base < sent) await new Promise((resolve) => setTimeout(resolve, 20));
  const total = (performance.now() - t0) / 1000;
  return {
    scenario: 'limit',
    variant: 'async confirm+ack pipeline',
    throughput: Math.round(sent / total),
    submitRate: Math.round(sent / submitSeconds),
    ok: sent,
    errors: 0,
    cpuMsPerTask: meter.perTask(sent),
  };
}
