/**
 * The app the `flow` scenario loads: demo.add's work three times, bare and under each kind of
 * flow control by key, with limits that never bind (1,000 at once per key, 1,000,000 a second
 * per key, 100 keys): its rows measure what the bookkeeping costs per task, not any waiting.
 */
import { defineTask, z } from '../index.js';

const pair = z.tuple([z.number(), z.number()]);
/** One of 100 keys, from the first argument (the load generator counts it up). */
const keyOf = ({ args }: { args: [number, number] }): string => `k${args[0] % 100}`;

export const plain = defineTask({ name: 'bench.plain', queue: 'demo', args: pair, run: ([a, b]) => a + b });

export const keyed = defineTask({
  name: 'bench.keyed',
  queue: 'demo',
  args: pair,
  concurrency: { key: keyOf, limit: 1_000 },
  run: ([a, b]) => a + b,
});

export const rated = defineTask({
  name: 'bench.rated',
  queue: 'demo',
  args: pair,
  rateLimit: { limit: '1000000/s', key: keyOf },
  run: ([a, b]) => a + b,
});
