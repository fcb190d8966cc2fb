/** Small helpers for the unit tests (no network, no sleeps: wait for conditions). */

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves once `condition()` is true; rejects after `timeoutMs` naming `what`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Lets pending setImmediate callbacks and promise reactions run. */
export async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Settles a promise into a value we can assert on without racing it. */
export type Settled<T> = { status: 'pending' } | { status: 'fulfilled'; value: T } | { status: 'rejected'; reason: unknown };

export function track<T>(promise: Promise<T>): { readonly state: Settled<T> } {
  const holder: { state: Settled<T> } = { state: { status: 'pending' } };
  promise.then(
    (value) => {
      holder.state = { status: 'fulfilled', value };
    },
    (reason: unknown) => {
      holder.state = { status: 'rejected', reason };
    },
  );
  return holder;
}
