/**
 * The thread pool for CPU-bound tasks (piscina), so the worker's event loop stays free. Each
 * thread imports the app module by URL and runs the task by name; the hard limit terminates
 * the thread, the soft limit reaches the task as `ctx.signal`, its log lines come back here,
 * and so does the moment a thread takes the job (the time limits start then).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { BroadcastChannel, MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { CelerityError, type Logger } from '../../shared/src/core/index.js';
import { STRAY_CHANNEL, fromCrossedError, toCrossedError, type CpuJob, type CpuOutcome, type LogMessage, type ReportMessage, type StartedMessage, type StrayReport } from './cpu-job.js';

/** One CPU task to run: which module, which task, its arguments and context. */
export type CpuRequest = Omit<CpuJob, 'port' | 'tsxApi' | 'check'>;

export interface CpuSignals {
  /** Terminates the thread (hard time limit, forced shutdown); while the job waits for a thread, drops it. */
  hard: AbortSignal;
  /** Reaches the task as `ctx.signal` (soft time limit too). */
  task: AbortSignal;
  /** Where the task's `ctx.logger` lines are written. */
  logger: Logger;
  /** Where the task's `ctx.progress` and `ctx.stream` calls go. @default dropped */
  reports?: { progress: (fraction: number, message?: string) => void; stream: (chunk: string) => void };
  /** Told when a thread takes the job (epoch ms, measured in the thread); may be told twice, the first call counts. */
  onStart?: (atMs: number) => void;
}

/** A TypeScript module (what Node cannot import without a loader). */
const TYPESCRIPT = /\.[mc]?tsx?$/;

/**
 * `tsx/esm/api` as seen from the app's folder (else the current directory), for a TypeScript
 * app: Node 20 gives worker threads none of the loaders given with `--import` (NODE_OPTIONS),
 * so a thread loads the app through tsx's `tsImport` instead, as the main thread did. Its ES
 * module entry, read from tsx's package exports (`require.resolve` would give the CommonJS one).
 */
function tsxApiFor(appUrl: string): string | undefined {
  if (!appUrl.startsWith('file:') || !TYPESCRIPT.test(new URL(appUrl).pathname)) return undefined;
  for (const from of [fileURLToPath(appUrl), path.join(process.cwd(), 'noop.js')]) {
    let manifest: string;
    try {
      manifest = createRequire(from).resolve('tsx/package.json');
    } catch {
      continue; // Not installed there: try the next place.
    }
    const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: Record<string, unknown> };
    const api = exports?.['./esm/api'] as { import?: string | { default?: string } } | undefined;
    const entry = typeof api?.import === 'string' ? api.import : api?.import?.default;
    if (entry) return pathToFileURL(path.join(path.dirname(manifest), entry)).href;
  }
  return undefined;
}

export class ThreadPool {
  readonly #pool: Piscina;
  readonly #strays: BroadcastChannel;
  readonly #tsxApis = new Map<string, string | undefined>();
  #closing: Promise<void> | undefined;

  /**
   * @param threads most threads at once; extra jobs queue inside the pool (bounded by prefetch).
   * @param logger where the threads' stray errors are logged.
   */
  constructor(threads: number, logger: Logger) {
    // Its own channel name: several workers in one process (tests, embedding) log only their threads' errors.
    const strayChannel = `${STRAY_CHANNEL}:${randomUUID()}`;
    this.#pool = new Piscina({
      filename: new URL('./cpu-entry.js', import.meta.url).href,
      minThreads: 0,
      maxThreads: threads,
      // One job per thread at a time: a thread's stray error then belongs to one job (cpu-entry.ts).
      concurrentTasksPerWorker: 1,
      idleTimeout: 30_000,
      workerData: { strayChannel },
    });
    this.#strays = new BroadcastChannel(strayChannel);
    this.#strays.unref();
    this.#strays.onmessage = (event: unknown) => {
      const report = (event as { data: StrayReport }).data;
      logger.log(report.level, report.message, { ...report.fields, err: fromCrossedError(report.error) });
    };
  }

  /** Resolves with the task's result (parsed back from JSON) or rejects with its error (name and code kept). */
  async run(request: CpuRequest, signals: CpuSignals): Promise<unknown> {
    const outcome = await this.#job(request, signals);
    if (!outcome.ok) throw fromCrossedError(outcome.error);
    return outcome.json === undefined ? undefined : (JSON.parse(outcome.json) as unknown);
  }

  /**
   * At start-up: a thread imports the app and finds each of `names` as a CPU task, or this
   * rejects (INVALID_APP) saying why and what to do, instead of each CPU task failing later.
   */
  async check(appUrl: string, names: string[]): Promise<void> {
    const never = new AbortController().signal;
    const silent = { log: () => undefined } as unknown as Logger;
    const request = { appUrl, name: '(start-up check)', args: [], kwargs: {}, ctx: { id: '(start-up check)', name: '(start-up check)', queue: '', retries: 0 } };
    const outcome = await this.#job(request, { hard: never, task: never, logger: silent }, names);
    const file = appUrl.startsWith('file:') ? fileURLToPath(appUrl) : appUrl;
    if (!outcome.ok) {
      const hint = TYPESCRIPT.test(file)
        ? 'Node gives worker threads none of the loaders given with --import or NODE_OPTIONS; for a TypeScript app the threads use tsx when it can be found from the app\'s folder (npm install -D tsx), or compile the app and pass the .js to --app'
        : 'the threads import the app as plain Node would, without the loaders given with --import or NODE_OPTIONS; pass an app module Node can import as is (compiled JavaScript)';
      throw new CelerityError('INVALID_APP', `${file}: the CPU tasks (${names.join(', ')}) run on worker threads, which cannot load the app: ${outcome.error.name}: ${outcome.error.message}. ${hint}`);
    }
    const missing = JSON.parse(outcome.json ?? '[]') as string[];
    if (missing.length > 0) throw new CelerityError('INVALID_APP', `${file}: loaded in a worker thread, the app has no CPU task named ${missing.join(', ')}`);
  }

  async #job(request: CpuRequest, signals: CpuSignals, check?: string[]): Promise<CpuOutcome> {
    const { port1, port2 } = new MessageChannel();
    const onAbort = (): void => port1.postMessage({ type: 'abort', error: toCrossedError(signals.task.reason) });
    const onMessage = (message: LogMessage | StartedMessage | ReportMessage): void => {
      if (message.type === 'started') {
        signals.onStart?.(message.atMs);
        return;
      }
      if (message.type === 'progress') {
        signals.reports?.progress(message.fraction as number, message.message as string | undefined);
        return;
      }
      if (message.type === 'output') {
        signals.reports?.stream(message.chunk as string);
        return;
      }
      const { level, message: text, ...meta } = message.entry;
      signals.logger.log(typeof level === 'string' ? level : 'info', typeof text === 'string' ? text : String(text), meta);
    };
    port1.on('message', onMessage);
    if (signals.task.aborted) onAbort();
    else signals.task.addEventListener('abort', onAbort, { once: true });
    try {
      if (!this.#tsxApis.has(request.appUrl)) this.#tsxApis.set(request.appUrl, tsxApiFor(request.appUrl));
      const tsxApi = this.#tsxApis.get(request.appUrl);
      const job: CpuJob = { ...request, port: port2, ...(tsxApi ? { tsxApi } : {}), ...(check ? { check } : {}) };
      const outcome = (await this.#pool.run(job, { signal: signals.hard, transferList: [port2] })) as CpuOutcome;
      // The outcome may overtake the 'started' message (two channels): it carries the start too.
      signals.onStart?.(outcome.startedAtMs);
      return outcome;
    } finally {
      signals.task.removeEventListener('abort', onAbort);
      // The outcome comes on piscina's channel and may overtake the job's last log lines on this
      // one: take what has arrived before closing the port.
      for (let left = receiveMessageOnPort(port1); left; left = receiveMessageOnPort(port1)) onMessage(left.message as LogMessage | StartedMessage | ReportMessage);
      port1.close();
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#pool.close({ force: true }).finally(() => this.#strays.close());
    return this.#closing;
  }
}
