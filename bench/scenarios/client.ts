/**
 * The Node client's rows: `createClient` from the package, in a process of its own
 * (bench/client-load.ts), keeping 1, 16 and 64 `submit()` + `handle.result()` in flight (and
 * some of them again with the result modes `final` and `none`)
 * against a worker (concurrency 64), with no gateway and no HTTP. Latency is taken in that
 * process, from before `submit()` to `result()` resolved; its CPU is the row's `loadgen`.
 */
import { createInterface, type Interface } from 'node:readline';
import { CpuMeter, Stack, spawnNode, stop, type Spawned } from '../lib/procs.js';
import { histogram, latency, recordMs, type Row } from '../lib/stats.js';

export interface ClientLoopResult {
  ok: number;
  errors: number;
  seconds: number;
  latencies: number[];
}

/** The client-load process and its line protocol (see bench/client-load.ts). */
export class ClientLoad {
  readonly #spawned: Spawned;
  readonly #lines: AsyncIterator<string>;
  readonly #reader: Interface;

  private constructor(spawned: Spawned) {
    this.#spawned = spawned;
    this.#reader = createInterface({ input: spawned.child.stdout! });
    this.#lines = this.#reader[Symbol.asyncIterator]();
  }

  /** Starts the client on `stack`'s queue and resolves once it is connected and warmed up. */
  static async start(stack: Stack, env: Record<string, string> = {}): Promise<ClientLoad> {
    const spawned = spawnNode('bench/client-load.js', [stack.queue], { ...stack.env, LOG_LEVEL: 'warn', ...env }, [], 'pipe');
    spawned.child.stdin?.on('error', () => undefined);
    const load = new ClientLoad(spawned);
    const first = await load.#next();
    if (first !== 'ready') throw new Error(`the client process said "${first}" instead of "ready"`);
    return load;
  }

  get pid(): number {
    return this.#spawned.pid;
  }

  async #next(): Promise<string> {
    const { value, done } = await this.#lines.next();
    if (done) throw new Error('the client process ended early');
    return value;
  }

  /** `inFlight` submit + result loops for `seconds`, with the submit option `result` when given. */
  async run(inFlight: number, seconds: number, result?: string): Promise<ClientLoopResult> {
    this.#spawned.child.stdin!.write(`go ${inFlight} ${seconds}${result ? ` ${result}` : ''}\n`);
    return JSON.parse(await this.#next()) as ClientLoopResult;
  }

  /** Ends stdin (the client closes, flushing its trace) and waits for the process to exit. */
  async close(): Promise<void> {
    const { child } = this.#spawned;
    const exited = child.exitCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin?.end();
    const timer = setTimeout(() => void stop(child), 10_000);
    await exited;
    clearTimeout(timer);
    this.#reader.close();
  }
}

export interface ClientOptions {
  inFlight: number[];
  seconds: number;
  /** Rows run again with a result mode: `[inFlight, mode]`. */
  modes: [number, 'final' | 'none'][];
}

export async function runClient(options: ClientOptions): Promise<Row[]> {
  const stack = new Stack();
  let load: ClientLoad | undefined;
  try {
    await stack.migrate();
    await stack.startWorker(64);
    load = await ClientLoad.start(stack);
    const meter = new CpuMeter({ worker: stack.worker?.pid, loadgen: load.pid }, { database: true });
    const rows: Row[] = [];
    const runs: [number, string | undefined][] = [...options.inFlight.map((n): [number, undefined] => [n, undefined]), ...options.modes];
    for (const [inFlight, mode] of runs) {
      meter.start();
      const r = await load.run(inFlight, options.seconds, mode);
      const hist = histogram();
      for (const ms of r.latencies) recordMs(hist, ms);
      rows.push({
        scenario: 'client',
        variant: `${inFlight} in flight${mode ? `, result ${mode}` : ''}`,
        throughput: Math.round(r.ok / r.seconds),
        latency: latency(hist),
        ok: r.ok,
        errors: r.errors,
        cpuMsPerTask: meter.perTask(r.ok),
        note: 'createClient in its own process: submit() then handle.result(), demo.add; loadgen = that process',
      });
    }
    return rows;
  } finally {
    await load?.close();
    await stack.close();
  }
}
