/**
 * Type test: one-object tasks (`input`) and by-name calls typed from an app. Checked by tsc in
 * the build, and by test/unit/type-fixtures.test.ts under TypeScript 5.9 and 7: each
 * `@ts-expect-error` must be an error, and with the directive removed the error must name each
 * `word` in backticks on its comment. Nothing here runs.
 */
import { createClient, defineTask, z, type Client, type TaskInput, type TaskResult } from '../../index.js';

export const resize = defineTask({
  name: 'img.resize',
  queue: 'img',
  input: z.object({ url: z.string(), width: z.number().int(), fit: z.enum(['cover', 'contain']).default('cover') }),
  run({ url, width, fit }, ctx) {
    const checkedUrl: string = url;
    const checkedFit: 'cover' | 'contain' = fit;
    void checkedUrl;
    void checkedFit;
    void ctx.id;
    // @ts-expect-error `wrong`: width is a number, not a string
    const wrong: string = width;
    void wrong;
    return { url, width, bytes: 100 };
  },
});

export const add = defineTask({
  name: 'math.add',
  args: z.tuple([z.number(), z.number()]),
  run: ([a, b]) => a + b,
});

defineTask({
  name: 'img.bad',
  input: z.object({ url: z.string() }),
  // @ts-expect-error `url` is a string in the input, not a number
  run: ({ url }: { url: number }) => url,
});

const app = { resize, add };

export async function oneObject(client: Client): Promise<void> {
  const h = await client.submit(resize, { url: 'https://x/y.png', width: 200 });
  const out: { url: string; width: number; bytes: number } = await h.result();
  void out;
  await client.submit(resize, { url: 'u', width: 1, fit: 'contain' }, { countdown: 5, idempotencyKey: 'k1' });
  const input: TaskInput<typeof resize> = { url: 'u', width: 3 };
  const result: TaskResult<typeof resize> = { url: 'u', width: 3, bytes: 1 };
  void input;
  void result;
  // @ts-expect-error `width` must be a number
  await client.submit(resize, { url: 'u', width: '200' });
  // @ts-expect-error `width` is missing
  await client.submit(resize, { url: 'u' });
  // @ts-expect-error `height` is not a field of the input
  await client.submit(resize, { url: 'u', width: 1, height: 2 });
  // @ts-expect-error `countdown` is a number of seconds
  await client.submit(resize, { url: 'u', width: 1 }, { countdown: 'soon' });
}

export async function byName(): Promise<void> {
  const typed = await createClient({ tasks: app });
  const h = await typed.submit('img.resize', { url: 'u', width: 2 });
  const bytes: number = (await h.result()).bytes;
  void bytes;
  const sum: number = await (await typed.submit('math.add', [1, 2])).result();
  void sum;
  // @ts-expect-error `img.nope` is not a task of the app
  await typed.submit('img.nope', { url: 'u', width: 2 });
  // @ts-expect-error `width` must be a number, by name too
  await typed.submit('img.resize', { url: 'u', width: 'wide' });
  // @ts-expect-error `string` where the positional task wants numbers
  await typed.submit('math.add', ['1', 2]);

  // The app's type alone (no tasks at run time) types the calls the same way.
  const byType = await createClient<typeof app>();
  await byType.submit('img.resize', { url: 'u', width: 2 });
  // @ts-expect-error `img.nope` is not a task of the app
  await byType.submit('img.nope', {});

  // Untyped: any name, one object (kwargs) or args and kwargs, as Celery's send_task.
  const untyped = await createClient();
  await untyped.submit('py.anything', { any: 'thing' }, { queue: 'py' });
  await untyped.submit('py.anything', [1, 'two'], { k: true }, { queue: 'py' });
  const unknownResult: unknown = await (await untyped.submit('py.anything')).result();
  void unknownResult;
}
