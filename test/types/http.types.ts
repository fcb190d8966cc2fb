/**
 * Type test: the HTTP client (`celerity/http`) typed from an app's module type, as a browser app
 * types it (`createHttpClient<typeof import('./tasks.js')>`). Checked by tsc in the build, and by
 * test/unit/type-fixtures.test.ts under TypeScript 5.9 and 7. Nothing here runs.
 */
import { defineTask, z } from '../../index.js';
import { CelerityHttpError, createHttpClient, type HttpErrorCode, type HttpTask } from '../../shared/src/http/index.js';

export const thumbnail = defineTask({
  name: 'img.thumbnail',
  input: z.object({ url: z.string(), width: z.number().int().default(128) }),
  run: ({ url, width }) => ({ url, width, bytes: 10 }),
});

export const multiply = defineTask({
  name: 'math.multiply',
  args: z.tuple([z.number(), z.number()]),
  kwargs: z.object({ round: z.boolean().optional() }),
  run: ([a, b]) => a * b,
});

export const app = { thumbnail, multiply };

export async function typedCalls(signal: AbortSignal): Promise<void> {
  const api = createHttpClient<typeof app>({ baseUrl: 'https://tasks.example.com', apiKey: 'k' });
  const task = await api.submit('img.thumbnail', { url: 'u' }, { signal, waitS: 5 });
  const done = await api.wait(task, { timeoutS: 30, signal });
  const bytes: number | undefined = done.result?.bytes;
  void bytes;
  const product: HttpTask<number> = await api.wait(await api.submit('math.multiply', [2, 3], { round: true }, { countdown: 1, idempotencyKey: 'k1' }));
  void product;
  await api.get(task.id, { signal });
  await api.revoke(task, { terminate: true });
  for await (const event of api.events<{ state: string }>(task.id, { lastEventId: '3', signal })) {
    const state: string = event.data.state;
    void state;
  }
  // @ts-expect-error `img.nope` is not a task of the app
  await api.submit('img.nope', {});
  // @ts-expect-error `width` must be a number
  await api.submit('img.thumbnail', { url: 'u', width: 'wide' });
  // @ts-expect-error `string` where the positional task wants numbers
  await api.submit('math.multiply', ['2', 3]);
  // @ts-expect-error `round` is a boolean
  await api.submit('math.multiply', [2, 3], { round: 'yes' });
  // @ts-expect-error `countdown` is a number of seconds
  await api.submit('math.multiply', [2, 3], {}, { countdown: 'soon' });
  // @ts-expect-error `wrong`: the result is a number here, not a string
  const wrong: string | null | undefined = product.result;
  void wrong;

  // Untyped: any name, as Celery's send_task.
  const loose = createHttpClient({ baseUrl: '' });
  await loose.submit('anything.at.all', [1], { a: 1 });
}

export function errorCodes(err: unknown): string {
  if (!(err instanceof CelerityHttpError)) return 'other';
  const code: HttpErrorCode = err.code;
  switch (code) {
    case 'TASK_NOT_FOUND':
    case 'NETWORK_ERROR':
      return code;
    default:
      // @ts-expect-error `NOT_A_CODE` is not one of the stable codes
      return code === 'NOT_A_CODE' ? 'never' : code;
  }
}
