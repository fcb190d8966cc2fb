/**
 * Type test, checked by `tsc` in the build and by test/unit/type-fixtures.test.ts under
 * TypeScript 5.9 and 7: `rateLimit.key` and `units` get the task's parsed input (a one-object
 * task's input, else `{ args, kwargs }`), and `ctx.backoff` never returns. Each
 * `@ts-expect-error` fails the check if the line below it ever compiles, and the error must name
 * each `word` in backticks on its comment. Nothing here runs.
 */
import { defineTask, RateLimitedError, z } from '../../index.js';

export const send = defineTask({
  name: 'types.rate.send',
  input: z.object({ account: z.string(), pages: z.number() }),
  rateLimit: { limit: '100/s', key: (input) => input.account, units: (input) => input.pages },
  run: (input, ctx) => {
    if (input.pages > 10) ctx.backoff(5);
    if (input.pages > 20) throw new RateLimitedError({ retryAfterS: 30 });
    return input.account;
  },
});

export const add = defineTask({
  name: 'types.rate.add',
  args: z.tuple([z.number(), z.string()]),
  rateLimit: { limit: '20/m', key: ({ args }) => args[1] },
  run: ([a]) => a,
});

export const wrongField = defineTask({
  name: 'types.rate.wrong',
  input: z.object({ account: z.string() }),
  // @ts-expect-error `customer` is not a field of the input
  rateLimit: { limit: '1/s', key: ({ customer: _customer }) => 'key' },
  run: () => 1,
});

export const notAString = defineTask({
  name: 'types.rate.number',
  input: z.object({ n: z.number() }),
  // @ts-expect-error `number` is not a string key
  rateLimit: { limit: '1/s', key: (input) => input.n },
  run: () => 1,
});

export function backoffNeverReturns(ctx: { backoff(this: void, s: number): never }): string {
  ctx.backoff(1);
}
