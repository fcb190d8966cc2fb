/**
 * The 3-node RabbitMQ cluster of scripts/cluster.sh, driven from tests, and gateway processes
 * (`celerity gateway --app <demo app>`) to run beside TestContext's worker processes.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { CELERITY_CLI, DEMO_APP } from './demo.js';
import { TEST_DATABASE_URL } from './env.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);
const CLUSTER = resolve(new URL('../../../scripts/cluster.sh', import.meta.url).pathname);

/** Node n listens on AMQP port AMQP_BASE + n (scripts/cluster.sh reads the same variable). */
const AMQP_BASE = Number(process.env.CELERITY_CLUSTER_AMQP_BASE ?? 5680);

export type NodeNumber = 1 | 2 | 3;
export const NODES: readonly NodeNumber[] = [1, 2, 3];

async function cluster(...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [CLUSTER, ...args], { timeout: 240_000 });
  return stdout.trim();
}

export const Cluster = {
  /** Starts (or finds running) the three nodes; resolves with their AMQP URLs. */
  async up(): Promise<string[]> {
    return (await cluster('up')).split(',');
  },
  down: (): Promise<string> => cluster('down'),
  kill: (n: NodeNumber): Promise<string> => cluster('kill', String(n)),
  start: (n: NodeNumber): Promise<string> => cluster('start', String(n)),
  stop: (n: NodeNumber): Promise<string> => cluster('stop', String(n)),
  /** AMQP port of node n. */
  port: (n: NodeNumber): number => AMQP_BASE + n,
  /** The node number of an AMQP port, or undefined for another port. */
  nodeOfPort: (port: number | undefined): NodeNumber | undefined => {
    const n = port === undefined ? 0 : port - AMQP_BASE;
    return n === 1 || n === 2 || n === 3 ? n : undefined;
  },
  /** AMQP_URL with node `first` first, then the others in order: where a process starts. */
  urlsFrom(urls: readonly string[], first: NodeNumber): string {
    return [...urls.slice(first - 1), ...urls.slice(0, first - 1)].join(',');
  },
  /** The node holding the leader of quorum queue `queue`. */
  async leader(queue: string, askNode: NodeNumber = 1): Promise<NodeNumber> {
    const out = await cluster('ctl', String(askNode), 'list_queues', '-q', '--no-table-headers', 'name', 'leader');
    for (const line of out.split('\n')) {
      const [name, leader] = line.trim().split(/\s+/);
      const n = /^celerity([123])@/.exec(leader ?? '')?.[1];
      if (name === queue && n) return Number(n) as NodeNumber;
    }
    throw new Error(`no leader found for ${queue} in:\n${out}`);
  },
};

/** A free TCP port on loopback (for a gateway that must come back on the same port). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  await new Promise((ok) => server.close(ok));
  return port;
}

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a gateway process on `port`; resolves once it listens. Kill it yourself (or SIGTERM). */
export async function spawnGateway(port: number, env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [CELERITY_CLI, 'gateway', '--app', DEMO_APP], {
    env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL, GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1', LOG_LEVEL: 'info', GATEWAY_ALLOWED_QUEUES: 'test.*', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
  await waitFor(
    'the gateway process to listen',
    () => {
      if (child.exitCode !== null) throw new Error(`gateway process exited early:\n${output}`);
      return output.includes('gateway listening');
    },
    { timeoutMs: 60_000, everyMs: 50 },
  );
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}

/** The AMQP port a process logged its (last) "connected to broker" with. */
export function connectedPort(output: string): number | undefined {
  const lines = output.split('\n').filter((l) => l.includes('connected to broker'));
  const last = lines.at(-1);
  const port = last ? /127\.0\.0\.1:(\d+)/.exec(last)?.[1] : undefined;
  return port ? Number(port) : undefined;
}
