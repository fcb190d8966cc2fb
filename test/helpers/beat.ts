/** Scheduler processes for the tests: `celerity beat` (or `worker --beat`) on a test's schema, with the beat test app. */
import { spawn, type ChildProcess } from 'node:child_process';
import type pg from 'pg';
import { CELERITY_CLI } from './demo.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL } from './env.js';
import { waitFor } from './wait.js';

/** Path of the compiled beat test app (test/fixtures/beat-app.ts). */
export const BEAT_APP = new URL('../fixtures/beat-app.js', import.meta.url).pathname;

export interface BeatProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<unknown>;
}

export interface BeatSpawn {
  schema: string;
  queue: string;
  schedules: Array<Record<string, unknown> & { name: string }>;
  /** @default ['beat'] */
  command?: string[];
  env?: Record<string, string>;
}

/** Starts a scheduler process; resolves once it has started (killed by the caller's cleanup). */
export async function spawnBeat(options: BeatSpawn, track: (child: ChildProcess) => void): Promise<BeatProcess> {
  const child = spawn(process.execPath, [CELERITY_CLI, ...(options.command ?? ['beat']), '--app', BEAT_APP], {
    env: {
      ...process.env,
      AMQP_URL: TEST_AMQP_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: options.schema,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      BEAT_TEST_QUEUE: options.queue,
      BEAT_TEST_SCHEDULES: JSON.stringify(options.schedules),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitFor('the scheduler process to start', () => {
    if (child.exitCode !== null) throw new Error(`scheduler process exited early:\n${output}`);
    return output.includes('scheduler beat@');
  }, { timeoutMs: 30_000 });
  return { child, output: () => output, exited };
}

/** The lease holder now (`beat@host:pid`), if any holds a live lease. */
export async function leaseHolder(pool: pg.Pool): Promise<{ holder: string; pid: number; token: string } | undefined> {
  const { rows } = await pool.query<{ holder: string; fencing_token: string }>('SELECT holder, fencing_token FROM beat_lease WHERE expires_at > clock_timestamp()');
  const row = rows[0];
  if (!row) return undefined;
  return { holder: row.holder, pid: Number(row.holder.split(':').at(-1)), token: row.fencing_token };
}

/** The runs of `schedule` recorded in the store, oldest first. */
export async function firesOf(pool: pg.Pool, schedule: string): Promise<Array<{ scheduledAt: Date; state: string; taskId: string | null; kind: string; token: string | null }>> {
  const { rows } = await pool.query<{ scheduled_at: Date; state: string; task_id: string | null; kind: string; fencing_token: string | null }>(
    'SELECT scheduled_at, state, task_id, kind, fencing_token FROM schedule_fires WHERE schedule = $1 ORDER BY scheduled_at',
    [schedule],
  );
  return rows.map((r) => ({ scheduledAt: r.scheduled_at, state: r.state, taskId: r.task_id, kind: r.kind, token: r.fencing_token }));
}
