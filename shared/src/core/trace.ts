/**
 * Per-hop trace stamps, a diagnosis knob for the bench's latency budget
 * (bench/scenarios/budget.ts, docs/performance.md): when a process is started with a trace
 * file (`CELERITY_TRACE_FILE`, read by the entry points only), each hop a task passes in it is
 * stamped with `{id, hop, t, pid}`, buffered in memory and appended to the file as NDJSON every
 * second and when the process closes or exits. The bench merges the files of the gateway, the
 * worker and the Node client by task id.
 *
 * `t` is `performance.timeOrigin + performance.now()` in ms: sub-millisecond and monotonic
 * within a process, and comparable between processes of one machine to the accuracy of each
 * process's time origin (taken from the wall clock when it started).
 *
 * A process-wide switch rather than a dependency passed down, so that each stamp stays one
 * line in the hot path. Off (the default), `stamp()` returns after one boolean check.
 */
import { appendFileSync } from 'node:fs';

/** Where a task is when it is stamped, in the order a `?wait=` round trip passes them. */
export type TraceHop =
  // gateway
  | 'http.in'
  | 'validated'
  | 'pending.recorded'
  | 'http.out'
  // gateway and Node client (the shared submit path)
  | 'publish'
  | 'confirm'
  | 'reply.in'
  // Node client
  | 'submit'
  | 'result'
  // worker
  | 'delivered'
  | 'admitted'
  | 'run.start'
  | 'run.end'
  | 'reply.sent'
  | 'recorded'
  | 'acked';

/** One stamp as written to the file (one JSON object per line). */
export interface TraceLine {
  id: string;
  hop: TraceHop;
  /** ms since the epoch, with microseconds. */
  t: number;
  pid: number;
}

/** How often the buffer is appended to the file, in ms. */
const FLUSH_EVERY_MS = 1_000;
/** A buffer this long is written at once, whatever the timer: memory stays bounded under load. */
const MAX_BUFFERED = 50_000;

let on = false;
let file = '';
let ids: string[] = [];
let hops: TraceHop[] = [];
let times: number[] = [];
let timer: NodeJS.Timeout | undefined;

/** The clock of the stamps: ms since the epoch, sub-millisecond. */
export function traceNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Stamps are being recorded in this process. */
export function tracing(): boolean {
  return on;
}

/** Records that task `id` reached `hop`, now or at `t` (a time taken earlier with traceNow). */
export function stamp(id: string, hop: TraceHop, t?: number): void {
  if (!on) return;
  ids.push(id);
  hops.push(hop);
  times.push(t ?? traceNow());
  if (ids.length >= MAX_BUFFERED) flushTrace();
}

/** `stamp` for each of several tasks at once (a batch), at the same time. */
export function stampEach(items: readonly { id: string }[], hop: TraceHop, t?: number): void {
  if (!on) return;
  const at = t ?? traceNow();
  for (const item of items) stamp(item.id, hop, at);
}

/** Appends the buffered stamps to the file (synchronously, so it also works in an `exit` handler). */
export function flushTrace(): void {
  if (ids.length === 0) return;
  const pid = process.pid;
  let text = '';
  for (let i = 0; i < ids.length; i++) {
    const line: TraceLine = { id: ids[i]!, hop: hops[i]!, t: Math.round(times[i]! * 1000) / 1000, pid };
    text += `${JSON.stringify(line)}\n`;
  }
  ids = [];
  hops = [];
  times = [];
  appendFileSync(file, text);
}

const flushOnExit = (): void => flushTrace();

/**
 * Starts recording this process's stamps into `path` (appended to). The entry points call it
 * when CELERITY_TRACE_FILE is set; a second call switches files after flushing the first.
 */
export function startTrace(path: string): void {
  if (on) stopTrace();
  file = path;
  on = true;
  // A failed periodic write must not end the process: the stamps are a diagnosis aid.
  timer = setInterval(() => {
    try {
      flushTrace();
    } catch (err) {
      process.stderr.write(`celerity: could not write the trace file ${file}: ${String(err)}\n`);
    }
  }, FLUSH_EVERY_MS);
  timer.unref();
  process.on('exit', flushOnExit);
}

/** Writes what is buffered and stops recording. Safe to call twice, or when never started. */
export function stopTrace(): void {
  if (!on) return;
  clearInterval(timer);
  timer = undefined;
  process.off('exit', flushOnExit);
  try {
    flushTrace();
  } finally {
    on = false;
  }
}
