/** The thread pool for CPU-bound tasks (piscina), so the worker's event loop stays free. */
import { Piscina } from 'piscina';
import type { CpuJob } from './cpu-entry.js';

export class ThreadPool {
  readonly #pool: Piscina;
  #closing: Promise<void> | undefined;

  /** @param threads most threads at once; extra jobs queue inside the pool (bounded by prefetch). */
  constructor(threads: number) {
    this.#pool = new Piscina({
      filename: new URL('./cpu-entry.js', import.meta.url).href,
      minThreads: 0,
      maxThreads: threads,
      idleTimeout: 30_000,
    });
  }

  run(job: CpuJob, signal: AbortSignal): Promise<unknown> {
    return this.#pool.run(job, { signal }) as Promise<unknown>;
  }

  close(): Promise<void> {
    this.#closing ??= this.#pool.close({ force: true });
    return this.#closing;
  }
}
