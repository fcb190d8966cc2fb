/**
 * Redis for the BullMQ peer: the local server (127.0.0.1:6379, or REDIS_HOST / REDIS_PORT), and a
 * durable one the bench starts itself (`appendonly yes`, `appendfsync everysec`, what durable
 * BullMQ users run) on a free port with a temporary directory. Each comes with its pid, so its
 * CPU is counted like the RabbitMQ node's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stop } from './procs.js';

export interface RedisTarget {
  /** What the rows say about it. */
  label: string;
  connection: { host: string; port: number };
  /** Its server process, when visible (its CPU goes in the broker column). */
  pid: number | undefined;
  /** Stops a server the bench started (and removes its directory). */
  close: () => Promise<void>;
}

/** The pid of the `redis-server` listening on `port`, found by its command line. */
function redisPid(port: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'redis-server') continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`:${port}`)) return Number(entry);
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

export function localRedis(): RedisTarget {
  const connection = { host: process.env.REDIS_HOST ?? '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379) };
  return { label: 'local Redis as configured', connection, pid: redisPid(connection.port), close: () => Promise.resolve() };
}

/** Starts `redis-server` with append-only persistence (fsync every second) in a temporary directory. */
export async function durableRedis(): Promise<RedisTarget> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start within 10 s')), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      if (/Ready to accept connections/.test(chunk.toString())) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code})`)));
  });
  await ready;
  child.stdout!.resume();
  return {
    label: 'durable Redis (appendonly yes, appendfsync everysec)',
    connection: { host: '127.0.0.1', port },
    pid: child.pid,
    close: async () => {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
