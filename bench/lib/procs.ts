/**
 * The processes a scenario runs: a real gateway and worker (compiled entry points, each
 * scenario with its own schema and queue), their CPU time and memory read from /proc, and the
 * RabbitMQ node's `beam.smp` found by name, and PostgreSQL's processes (its server and every
 * backend) found by name. Cleanup deletes what the scenario created.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import amqp from 'amqplib';
import pg from 'pg';

export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://celerity:celerity@127.0.0.1:5432/celerity';
/** The project root: this file is compiled to dist/bench/lib/procs.js. */
export const DIST = new URL('../../', import.meta.url).pathname;
/** The demo app module the bench's gateway and workers run (compiled). */
export const DEMO_APP = `${DIST}examples/demo/tasks.js`;
export const ROOT = new URL('../../../', import.meta.url).pathname;

const CLK_TCK = 100;

/** User + system CPU seconds of a process so far, from /proc/<pid>/stat; undefined if gone. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** CPU seconds of a process and all its descendants (Celery's prefork children, say). */
export function cpuSecondsTree(pid: number | undefined): number | undefined {
  const own = cpuSeconds(pid);
  if (pid === undefined || own === undefined) return own;
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // gone
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    total += cpuSeconds(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

/** Resident set size in MB, from /proc/<pid>/status. */
export function rssMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Math.round(Number(m[1]) / 102.4) / 10 : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of the local RabbitMQ node (its Erlang VM), if one is visible. */
export function brokerPid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'beam.smp') {
        const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
        if (cmd.includes('rabbit')) return Number(entry);
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

/**
 * CPU seconds of every PostgreSQL process (the server and its backends, by command name). The
 * connection pools keep their backends for the whole phase, so a diff around a phase counts
 * the database's work for it, plus whatever other clients of the same server did meanwhile.
 */
export function databaseCpuSeconds(): number | undefined {
  let total: number | undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith('postgres')) continue;
    } catch {
      continue; // gone, or not ours to read
    }
    const own = cpuSeconds(Number(entry));
    if (own !== undefined) total = (total ?? 0) + own;
  }
  return total;
}

/** CPU seconds of several processes, to diff around a measured phase. */
export class CpuMeter {
  readonly #pids: Record<string, number | undefined>;
  #start: Record<string, number | undefined> = {};
  #loadgen = process.cpuUsage();

  readonly #database: boolean;

  /** `database`: also count PostgreSQL's processes (for scenarios that use it). */
  constructor(pids: Record<string, number | undefined>, options: { database?: boolean } = {}) {
    this.#pids = { broker: brokerPid(), ...pids };
    this.#database = options.database === true;
  }

  start(): void {
    this.#start = Object.fromEntries(Object.entries(this.#pids).map(([k, pid]) => [k, k === 'peer' ? cpuSecondsTree(pid) : cpuSeconds(pid)]));
    this.#start.database = this.#database ? databaseCpuSeconds() : undefined;
    this.#loadgen = process.cpuUsage();
  }

  /** CPU milliseconds per task for each process since `start()`. */
  perTask(tasks: number): Record<string, number> {
    const out: Record<string, number> = {};
    if (tasks <= 0) return out;
    for (const [k, pid] of Object.entries(this.#pids)) {
      const before = this.#start[k];
      const after = k === 'peer' ? cpuSecondsTree(pid) : cpuSeconds(pid);
      if (before !== undefined && after !== undefined) out[k] = round3(((after - before) * 1000) / tasks);
    }
    // A scenario whose load runs in a child (the Node client's) names that process `loadgen`.
    if (!('loadgen' in this.#pids)) {
      const used = process.cpuUsage(this.#loadgen);
      out.loadgen = round3((used.user + used.system) / 1000 / tasks);
    }
    const database = this.#database ? databaseCpuSeconds() : undefined;
    if (this.#start.database !== undefined && database !== undefined) out.database = round3(((database - this.#start.database) * 1000) / tasks);
    return out;
  }
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** A TCP port nothing listens on now (the OS's pick). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
}

/** Spawns a compiled entry point under dist/, stdout piped for readiness lines (stdin too when it takes commands). */
export function spawnNode(file: string, args: string[], env: Record<string, string>, nodeArgs: string[] = [], stdin: 'ignore' | 'pipe' = 'ignore'): Spawned {
  const child = spawn(process.execPath, [...nodeArgs, `${DIST}${file}`, ...args], {
    env: { ...process.env, ...env },
    stdio: [stdin, 'pipe', 'inherit'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${file}`);
  return { child, pid: child.pid };
}

/** Resolves with the first capture of `pattern` on the child's stdout. */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms`)), timeoutMs);
    lines.on('line', (line) => {
      if (process.env.BENCH_DEBUG) process.stderr.write(`${line}\n`);
      const m = pattern.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code}) before printing ${pattern}`));
    });
  });
}

export async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** A unique queue and schema for one scenario, and the gateway/worker running on them. */
export class Stack {
  readonly id = randomBytes(4).toString('hex');
  readonly queue = `bench.${this.id}`;
  readonly schema = `bench_${this.id}`;
  gateway: Spawned | undefined;
  worker: Spawned | undefined;
  port = 0;
  /** The worker's /metrics port. */
  workerMetricsPort: number | undefined;
  readonly #extraQueues: string[] = [];
  /** The app module the gateway and the worker load. @default the demo app */
  app = DEMO_APP;

  get env(): Record<string, string> {
    // `--queue-type=quorum` (bench/main.ts): only this stack's queue, so the `demo` queue the
    // gateway also declares stays as it is on the shared broker.
    const quorum: Record<string, string> = process.env.BENCH_QUEUE_TYPE === 'quorum' ? { QUEUE_TYPES: `${this.queue}=quorum,*=classic` } : {};
    // The gateway accepts only the queues it knows or is told of: each stack's own is `bench.<id>`.
    return { AMQP_URL, DATABASE_URL, DATABASE_SCHEMA: this.schema, LOG_LEVEL: 'warn', GATEWAY_ALLOWED_QUEUES: 'bench.*', ...quorum };
  }

  /** Another queue deleted with this stack (peers' queues). */
  adopt(queue: string): void {
    this.#extraQueues.push(queue);
  }

  async migrate(): Promise<void> {
    const { child } = spawnNode('cli.js', ['migrate'], this.env);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`migrate exited ${code}`);
  }

  async startGateway(extra: Record<string, string> = {}): Promise<void> {
    const nodeArgs = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
    this.gateway = spawnNode('cli.js', ['gateway', '--app', this.app], { ...this.env, GATEWAY_PORT: '0', LOG_LEVEL: 'info', ...extra }, nodeArgs);
    this.port = Number(await waitForLine(this.gateway.child, /listening on http:\/\/[\d.]+:(\d+)/));
  }

  async startWorker(concurrency: number, extra: Record<string, string> = {}): Promise<void> {
    const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    // Its /metrics on a free port (0 would turn it off): tasks that leave no row are counted there.
    this.workerMetricsPort = await freePort();
    this.worker = spawnNode(
      'cli.js',
      ['worker', '--app', this.app, '--queues', this.queue, '--concurrency', String(concurrency), '--metrics-port', String(this.workerMetricsPort)],
      { ...this.env, LOG_LEVEL: 'info', ...extra },
      nodeArgs,
    );
    await waitForLine(this.worker.child, /consuming/);
  }

  async close(): Promise<void> {
    const failures: unknown[] = [];
    for (const p of [this.gateway, this.worker]) if (p) await stop(p.child).catch((err: unknown) => failures.push(err));
    try {
      const connection = await amqp.connect(AMQP_URL);
      try {
        for (const queue of [this.queue, ...this.#extraQueues]) {
          const channel = await connection.createChannel();
          channel.on('error', () => undefined);
          await channel.deleteQueue(queue).catch(() => undefined);
          await channel.deleteQueue(`${queue}.dead`).catch(() => undefined);
          await channel.deleteExchange(queue).catch(() => undefined);
          await channel.close().catch(() => undefined);
        }
      } finally {
        await connection.close();
      }
    } catch (err) {
      failures.push(err);
    }
    const client = new pg.Client({ connectionString: DATABASE_URL });
    try {
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
    } catch (err) {
      failures.push(err);
    } finally {
      await client.end().catch(() => undefined);
    }
    if (failures.length > 0) process.stderr.write(`bench: cleanup of ${this.queue}/${this.schema} failed: ${failures.map(String).join('; ')}\n`);
  }
}
