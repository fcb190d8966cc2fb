/**
 * Type test (see client.types.ts): `task.s(...)` takes the task's argument types, a later step
 * may leave out the first argument, and `client.workflow(...)`'s result is typed from the
 * workflow: a chain's last step, a group's list, a chord's body. Nothing here runs.
 */
import { chain, chord, defineTask, group, z, type Client } from '../../index.js';

const add = defineTask({
  name: 'types.wf.add',
  args: z.tuple([z.number(), z.number()]),
  run: ([a, b]) => a + b,
});

const total = defineTask({
  name: 'types.wf.total',
  args: z.tuple([z.array(z.number())]),
  run: ([numbers]) => ({ total: numbers.length }),
});

export async function typeChecks(client: Client): Promise<void> {
  const six: number = await (await client.workflow(chain(add.s([1, 2]), add.s([3])))).result();
  const list: number[] = await (await client.workflow(group([add.s([1, 1]), add.s([2, 2])]))).result();
  const body: { total: number } = await (await client.workflow(chord([add.s([1, 1])], total.s([])))).result();
  void [six, list, body];
  // @ts-expect-error `'x'` is a string where the schema says number
  add.s(['x', 2]);
}
