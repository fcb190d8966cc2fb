/**
 * The seed's Celery example, a group of parallel tasks, from the Node client; start the demo
 * (`npm start`) first, then, in another terminal:
 *
 *   npm run build && node dist/examples/demo/group.js
 */
import { chain, chord, createClient, group } from '../../index.js';
import { add, sum } from './tasks.js';

const client = await createClient({ tasks: [add, sum] });
try {
  // group: ten additions in parallel; the result is their results, in order.
  const parallel = await client.workflow(group(Array.from({ length: 10 }, (_, i) => add.s([i, i]))));
  console.log('group', parallel.id, await parallel.result({ timeoutMs: 30_000 }));
  // chain: (1 + 2) + 3; chord: the group's results, summed once every one is in.
  const chained = await client.workflow(chain(add.s([1, 2]), add.s([3])));
  console.log('chain', chained.id, await chained.result({ timeoutMs: 30_000 }));
  const chorded = await client.workflow(chord([add.s([1, 1]), add.s([2, 2]), add.s([3, 3])], sum.s([])));
  console.log('chord', chorded.id, await chorded.result({ timeoutMs: 30_000 }));
} finally {
  await client.close();
}
