/**
 * Type test, checked by `tsc` in the build and by test/unit/type-fixtures.test.ts under
 * TypeScript 5.9 and 7: `client.submit(task, args)` takes the task's argument types and
 * `result()` gives its result type. Each `@ts-expect-error` fails the check if the line below
 * it ever compiles, and the error must name each `word` in backticks on its comment. Nothing
 * here runs.
 */
import { defineTask, z, type Client } from '../../index.js';

const add = defineTask({
  name: 'types.add',
  args: z.tuple([z.number(), z.number()]),
  kwargs: z.object({ round: z.boolean().optional() }),
  run: ([a, b]) => a + b,
});

const greet = defineTask({
  name: 'types.greet',
  args: z.tuple([z.string()]),
  run: ([name]) => ({ greeting: `hello ${name}` }),
});

export async function typeChecks(client: Client): Promise<void> {
  const h = await client.submit(add, [1, 2], { round: true });
  const sum: number = await h.result({ timeoutMs: 1000 });
  void sum;
  // @ts-expect-error `'1'` is a string where the schema says number
  await client.submit(add, ['1', 2]);
  // @ts-expect-error `round` is a boolean, not a string
  await client.submit(add, [1, 2], { round: 'yes' });
  // @ts-expect-error `wrong`: the result is a number, not a string
  const wrong: string = await h.result();
  void wrong;

  const g = await client.submit(greet, ['ada']);
  const { greeting } = await g.result();
  const text: string = greeting;
  void text;
  // @ts-expect-error the result has no field `farewell`
  void (await g.result()).farewell;

  // By name: untyped, anything goes, the result is unknown.
  const byName = await client.submit('types.add', ['anything'], {}, { queue: 'elsewhere', countdown: 5 });
  const unknownResult: unknown = await byName.result();
  void unknownResult;
  // @ts-expect-error `notNumber`: an unknown result must be narrowed before use as a number
  const notNumber: number = await byName.result();
  void notNumber;
  // @ts-expect-error options are checked: `countdown` is a number of seconds
  await client.submit(add, [1, 2], undefined, { countdown: 'soon' });
}
