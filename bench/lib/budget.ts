/**
 * The latency budget's arithmetic: trace stamps (shared/src/core/trace.ts, NDJSON from the gateway,
 * the worker and the Node client) merged by task id, then for one flow each step between two
 * hops as p50 and p90 over the tasks, and each step's share of the end-to-end time. Pure
 * functions, so test/unit/budget.test.ts checks them without a broker.
 *
 * A flow's `chain` is the path a caller waits on, hop by hop; its steps telescope, so their
 * durations add up to the end-to-end time of each task. Percentiles do not add up, so the share
 * is taken from the tasks around the median (p40 to p60 of end to end): each step's mean over
 * them ÷ their mean end to end. The shares of the chain sum to 1. `side` steps are off the
 * path (the confirm of a `?wait=`, the commit after a reply) and get no share.
 */
import type { TraceHop, TraceLine } from '../../shared/src/core/trace.js';

/** Hop → time (ms) for one task, the first stamp of each hop. */
export type Stamps = Map<TraceHop, number>;

export interface Flow {
  /** What ran: "?wait=, 64 callers". */
  name: string;
  /** The hops a caller waits through, in order; end to end = last − first. */
  chain: TraceHop[];
  /** Steps beside the path, shown without a share. */
  side: [TraceHop, TraceHop][];
}

export interface Step {
  from: TraceHop;
  to: TraceHop;
  /** On the chain (the caller waits for it) or beside it. */
  onPath: boolean;
  /** Tasks with both stamps. */
  count: number;
  p50: number;
  p90: number;
  /** Chain steps: share of the end-to-end time of the tasks around the median, 0 to 1. */
  share?: number;
}

export interface Budget {
  flow: string;
  /** Tasks with every hop of the chain. */
  tasks: number;
  endToEnd: { from: TraceHop; to: TraceHop; p50: number; p90: number };
  steps: Step[];
}

/** The stamps of NDJSON text; lines that are not stamps (a torn last line) are skipped. */
export function parseTrace(text: string): TraceLine[] {
  const out: TraceLine[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const parsed = JSON.parse(line) as Partial<TraceLine>;
      if (typeof parsed.id === 'string' && typeof parsed.hop === 'string' && typeof parsed.t === 'number') out.push(parsed as TraceLine);
    } catch {
      // a partial line from a process killed mid-write
    }
  }
  return out;
}

/** Stamps by task id; a hop stamped twice for one task (a redelivery) keeps its first time. */
export function mergeById(lines: Iterable<TraceLine>): Map<string, Stamps> {
  const tasks = new Map<string, Stamps>();
  for (const { id, hop, t } of lines) {
    let stamps = tasks.get(id);
    if (!stamps) tasks.set(id, (stamps = new Map()));
    const seen = stamps.get(hop);
    if (seen === undefined || t < seen) stamps.set(hop, t);
  }
  return tasks;
}

/** The tasks whose `hop` falls in [from, to] (one phase of a run that traced several). */
export function within(tasks: Map<string, Stamps>, hop: TraceHop, from: number, to: number): Stamps[] {
  const out: Stamps[] = [];
  for (const stamps of tasks.values()) {
    const t = stamps.get(hop);
    if (t !== undefined && t >= from && t <= to) out.push(stamps);
  }
  return out;
}

/** Nearest-rank percentile (0 < p ≤ 100) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

const ascending = (a: number, b: number): number => a - b;

function durations(tasks: readonly Stamps[], from: TraceHop, to: TraceHop): number[] {
  const out: number[] = [];
  for (const stamps of tasks) {
    const a = stamps.get(from);
    const b = stamps.get(to);
    if (a !== undefined && b !== undefined) out.push(b - a);
  }
  return out.sort(ascending);
}

/** The budget of `flow` over `tasks`. */
export function budget(flow: Flow, tasks: readonly Stamps[]): Budget {
  const first = flow.chain[0]!;
  const last = flow.chain[flow.chain.length - 1]!;
  const complete = tasks.filter((stamps) => flow.chain.every((hop) => stamps.has(hop)));
  const e2e = (s: Stamps): number => s.get(last)! - s.get(first)!;
  // The tasks around the median, whose split the shares describe.
  const byE2e = [...complete].sort((a, b) => e2e(a) - e2e(b));
  const lo = Math.floor(byE2e.length * 0.4);
  const hi = Math.max(lo + 1, Math.ceil(byE2e.length * 0.6));
  const middle = byE2e.slice(lo, hi);
  const middleE2e = middle.reduce((sum, s) => sum + e2e(s), 0);
  const steps: Step[] = [];
  for (let i = 1; i < flow.chain.length; i++) {
    const from = flow.chain[i - 1]!;
    const to = flow.chain[i]!;
    const d = durations(complete, from, to);
    const spent = middle.reduce((sum, s) => sum + (s.get(to)! - s.get(from)!), 0);
    steps.push({ from, to, onPath: true, count: d.length, p50: percentile(d, 50), p90: percentile(d, 90), ...(middleE2e > 0 ? { share: spent / middleE2e } : {}) });
  }
  for (const [from, to] of flow.side) {
    const d = durations(tasks, from, to);
    steps.push({ from, to, onPath: false, count: d.length, p50: percentile(d, 50), p90: percentile(d, 90) });
  }
  const all = complete.map(e2e).sort(ascending);
  return { flow: flow.name, tasks: complete.length, endToEnd: { from: first, to: last, p50: percentile(all, 50), p90: percentile(all, 90) }, steps };
}

function ms(n: number): string {
  if (Number.isNaN(n)) return '–';
  return Math.abs(n) < 1 ? n.toFixed(3) : n.toFixed(2);
}

/** A markdown table of one budget. */
export function budgetTable(b: Budget): string {
  const lines = [
    `**${b.flow}**: ${b.tasks} tasks with every stamp; end to end (${b.endToEnd.from} → ${b.endToEnd.to}) p50 ${ms(b.endToEnd.p50)} ms, p90 ${ms(b.endToEnd.p90)} ms`,
    '',
    '| step | p50 ms | p90 ms | share of the p50 |',
    '|---|---:|---:|---:|',
  ];
  for (const s of b.steps) {
    const share = s.share === undefined ? '' : `${(s.share * 100).toFixed(1)} %`;
    lines.push(`| ${s.from} → ${s.to}${s.onPath ? '' : ' (beside the path)'} | ${ms(s.p50)} | ${ms(s.p90)} | ${share} |`);
  }
  return lines.join('\n');
}
