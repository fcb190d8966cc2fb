/**
 * Real Python Celery in integration tests: a client driver (test/python/client.py) and a
 * worker (`celery -A celery_app worker`) run by Debian's interpreter against the test broker.
 * Workers are killed by the test's cleanup and exit by themselves if the test process dies.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TEST_AMQP_URL, type TestContext } from './harness.js';
import { waitFor } from './wait.js';

/** Debian's python3 has python3-celery; the `python3` on PATH may not (scripts/ensure-celery.sh). */
export const PYTHON = process.env.CELERITY_PYTHON ?? '/usr/bin/python3';
/** test/python in the repository (this file runs from dist/test/helpers). */
export const PYTHON_DRIVERS = fileURLToPath(new URL('../../../test/python/', import.meta.url));

function pythonEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CELERY_BROKER_URL: TEST_AMQP_URL,
    PYTHONPATH: PYTHON_DRIVERS,
    PYTHONUNBUFFERED: '1',
    PYTHONIOENCODING: 'utf-8',
    CELERITY_TEST_PARENT_PID: String(process.pid),
  };
}

export interface PythonCall {
  task: string;
  queue: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  task_id?: string;
  /** Seconds `AsyncResult.get()` waits. */
  timeout?: number;
  /** Seconds from now. */
  expires?: number;
  priority?: number;
  /** Declare the queue with these arguments (as `Queue(..., queue_arguments=...)`). */
  queue_arguments?: Record<string, unknown>;
  /** false: send only, do not wait for the result. @default true */
  wait?: boolean;
  /** true: `signature.delay(*args, **kwargs)`, as Python code calls a task. @default false (`send_task`) */
  delay?: boolean;
  /** Signatures sent with `apply_async(link=..., link_error=...)`, on the same queue. */
  link?: PythonStep;
  link_error?: PythonStep;
}

/** One signature of a Python canvas (`app.signature(task, args=..., queue=...)`). */
export interface PythonStep {
  task: string;
  args?: unknown[];
  task_id?: string;
}

/** A Python canvas: `chain(*steps).apply_async().get()` or `group(steps)().get()`. */
export interface PythonCanvasCall {
  canvas: 'chain' | 'group';
  queue: string;
  steps: PythonStep[];
  /** Seconds `.get()` waits. */
  timeout?: number;
}

export type PythonOutcome =
  | { ok: true; id: string; state: string; result: unknown; ids?: string[] }
  | { ok: false; id: string | null; state: string; exc_type: string; exc_module: string; exc_args: string[]; message: string };

/** Sends `calls` one after the other from a Python Celery client; resolves with each outcome. */
export function runPythonClient(calls: (PythonCall | PythonCanvasCall)[], timeoutMs = 120_000): Promise<PythonOutcome[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      PYTHON,
      [`${PYTHON_DRIVERS}client.py`],
      { env: pythonEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`python client failed: ${err.message}\n${stderr.slice(-4000)}`, { cause: err }));
        try {
          resolve(JSON.parse(stdout) as PythonOutcome[]);
        } catch (parseErr) {
          reject(new Error(`python client printed no JSON: ${stdout.slice(0, 500)}\n${stderr.slice(-4000)}`, { cause: parseErr }));
        }
      },
    );
    child.stdin?.end(JSON.stringify(calls));
  });
}

export interface PythonWorker {
  readonly process: ChildProcess;
  /** The worker's log so far (last 2000 lines). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `celery worker -Q queue` and resolves once it consumes the queue (the broker counts
 * its consumer). `ctx.cleanup()` stops it.
 */
export async function startPythonWorker(ctx: TestContext, queue: string, options: { concurrency?: number } = {}): Promise<PythonWorker> {
  const concurrency = options.concurrency ?? 2;
  const child = spawn(
    PYTHON,
    [
      '-m', 'celery', '-A', 'celery_app', 'worker',
      '-Q', queue,
      '-n', `py-${ctx.suffix}-${queue.length}@%h`,
      // prefork, Celery's default: with Celery 5.2.6 the threads and solo pools took deliveries
      // in bursts under concurrent load (seconds apart, paced by the worker's timers).
      '--pool', 'prefork', '-c', String(concurrency),
      '-l', 'info',
      '--without-gossip', '--without-mingle', '--without-heartbeat',
    ],
    { env: pythonEnv(), cwd: PYTHON_DRIVERS, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
    if (lines.length > 2000) lines.splice(0, lines.length - 2000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );
  child.on('error', (err) => lines.push(`spawn error: ${err.message}`));

  const worker: PythonWorker = {
    process: child,
    output: () => lines.join('\n'),
    async stop() {
      if (exited) return;
      child.kill('SIGTERM'); // Celery's warm shutdown: finish the current task, then exit.
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
  ctx.defer(() => worker.stop());
  const ready = await waitFor(
    `the Python Celery worker to consume ${queue}`,
    async () => (exited ? 'exited' : (await ctx.queueDepth(queue)).consumers > 0 && 'consuming'),
    { timeoutMs: 60_000, everyMs: 200 },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\n--- python worker output ---\n${worker.output()}`, { cause: err });
  });
  if (ready === 'exited') throw new Error(`the Python worker exited (${JSON.stringify(exited)}):\n${worker.output()}`);
  return worker;
}

/** One remote-control operation for test/python/control.py (`app.control` from Python Celery). */
export type PythonControl =
  | { op: 'inspect'; method: string; destination?: string[]; timeout?: number }
  | { op: 'control'; method: string; args?: unknown[]; kwargs?: Record<string, unknown> };

/** Runs `operations` with Python Celery's `app.control`; resolves with what each returned. */
export function runPythonControl(operations: PythonControl[], timeoutMs = 60_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      PYTHON,
      [`${PYTHON_DRIVERS}control.py`],
      { env: pythonEnv(), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`python control failed: ${err.message}\n${stderr.slice(-4000)}`, { cause: err }));
        try {
          resolve(JSON.parse(stdout) as unknown[]);
        } catch (parseErr) {
          reject(new Error(`python control printed no JSON: ${stdout.slice(0, 500)}\n${stderr.slice(-4000)}`, { cause: parseErr }));
        }
      },
    );
    child.stdin?.end(JSON.stringify(operations));
  });
}
