// The BullMQ peer's worker: `node dist/bench/peers/bullmq-worker.js <queue> <concurrency>` (the bench starts it).
// A no-op / add processor on the local Redis; prints completed counts on stdout for the bench.
import { Worker } from 'bullmq';
import { serveBench } from '../lib/child.js';

const [name, concurrency] = process.argv.slice(2);
if (!name) throw new Error('usage: bullmq-worker <queue> <concurrency>');
const connection = { host: process.env.REDIS_HOST ?? '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379) };
let done = 0;
const worker = new Worker(
  name,
  // eslint-disable-next-line @typescript-eslint/require-await
  async (job) => {
    const data = job.data as { a?: number; b?: number };
    return (data.a ?? 0) + (data.b ?? 0);
  },
  { connection, concurrency: Number(concurrency ?? 50) },
);
worker.on('completed', () => {
  done++;
});
worker.on('error', (err) => process.stderr.write(`bullmq worker: ${err.message}\n`));
await worker.waitUntilReady();
serveBench(() => done, () => worker.close());
