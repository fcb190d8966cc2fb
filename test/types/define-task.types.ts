/**
 * Type test, checked by `tsc` in the build and by test/unit/type-fixtures.test.ts under
 * TypeScript 5.9 and 7: the types of `run`'s arguments and of a task's submit arguments and
 * result come from its schemas. Each `@ts-expect-error` line must be an error (naming each
 * `word` in backticks on its comment), or the check fails. Nothing here runs.
 */
import { defineTask, z, type Task, type TaskArgs, type TaskKwargs, type TaskResult } from '../../index.js';

export const words = defineTask({
  name: 'report.words',
  queue: 'reports',
  args: z.tuple([z.string()]),
  kwargs: z.object({ lower: z.boolean().default(false) }),
  run([text], { lower }) {
    const checkedText: string = text;
    const checkedLower: boolean = lower;
    // @ts-expect-error: `wrong`: text is a string, not a number
    const wrong: number = text;
    void checkedText;
    void checkedLower;
    void wrong;
    return { count: text.split(/\s+/).length };
  },
});

defineTask({
  name: 'report.bad',
  args: z.tuple([z.number()]),
  // @ts-expect-error: `run`'s first parameter must accept what the args schema gives ([number])
  run: ([text]: [string]) => text.length,
});

/** What a typed client's `submit(task, args, kwargs)` checks its arguments against. */
declare function submit<T extends Task>(task: T, args: TaskArgs<T>, kwargs?: TaskKwargs<T>): Promise<TaskResult<T>>;

export async function useIt(): Promise<void> {
  const result = await submit(words, ['a b c'], { lower: true });
  const count: number = result.count;
  void count;
  // kwargs with a default may be left out by the caller (the schema's input type)
  await submit(words, ['a b c'], {});
  // @ts-expect-error: `42` where the schema says string
  await submit(words, [42]);
  // @ts-expect-error: too many arguments for the tuple
  await submit(words, ['a', 'b']);
  // @ts-expect-error: `lower` is a boolean
  await submit(words, ['a'], { lower: 'yes' });
  // @ts-expect-error: the result has no field `total`
  const total: number = result.total;
  void total;
}

// A concurrency key function gets the parsed input: a one-object task's fields, else { args, kwargs }.
export const perCustomer = defineTask({
  name: 'crm.sync',
  input: z.object({ customer: z.string(), since: z.string() }),
  concurrency: { key: (input) => { const customer: string = input.customer; return customer; }, limit: 2, strategy: 'cancel-newest' },
  run: (input) => input.since,
});
export const perShard = defineTask({
  name: 'crm.shard',
  args: z.tuple([z.number()]),
  concurrency: { key: ({ args }) => { const shard: number = args[0]; return String(shard); }, limit: 1, weights: { '0': 2 } },
  run: ([shard]) => shard,
});
