/**
 * CPU-bound task bodies. They run inside the worker's thread pool (see cpu-entry.ts), never
 * on the main event loop, so they may compute synchronously for as long as they need.
 */

/** F(0) = 0, F(1) = 1, by naive recursion: deliberately CPU-heavy (exponential). */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

export type CpuFn = (args: unknown[], kwargs: Record<string, unknown>) => unknown;

export const CPU_TASKS: Readonly<Record<string, CpuFn>> = {
  'demo.fib': (args) => fib(args[0] as number),
};
