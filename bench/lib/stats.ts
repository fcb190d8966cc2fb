/**
 * Latency recording for the bench: HDR histograms (hdr-histogram-js) in microseconds, so
 * p99.9 is exact to 3 significant digits whatever the count, and a row type every scenario
 * reports in.
 */
import hdr from 'hdr-histogram-js';

export type Histogram = ReturnType<typeof hdr.build>;

export function histogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10 * 60 * 1_000_000, numberOfSignificantValueDigits: 3 });
}

/** Records a latency given in milliseconds. */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms * 1000)));
}

export interface Latency {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  count: number;
}

/** Percentiles in milliseconds. */
export function latency(h: Histogram): Latency {
  const ms = (p: number): number => Math.round(h.getValueAtPercentile(p) / 10) / 100;
  return { p50: ms(50), p99: ms(99), p999: ms(99.9), max: Math.round(h.maxValue / 10) / 100, count: h.totalCount };
}

/** CPU milliseconds spent per task, by process role (`database`: every PostgreSQL process). */
export type CpuPerTask = Partial<Record<'gateway' | 'worker' | 'broker' | 'database' | 'loadgen' | 'peer', number>>;

/** CPU milliseconds per task over every process measured: what one task costs the machine. */
export function cpuTotal(cpu: CpuPerTask | undefined): number | undefined {
  if (!cpu) return undefined;
  const parts = Object.values(cpu).filter((v): v is number => v !== undefined);
  return parts.length === 0 ? undefined : Math.round(parts.reduce((a, b) => a + b, 0) * 1000) / 1000;
}

export interface Row {
  /** limit | rpc | async | responsiveness | seed | memory | celery | bullmq */
  scenario: string;
  /** What was varied: "closed 64", "open 2000/s", "batch", "acks_late prefetch 1", ... */
  variant: string;
  /** Requests, round trips or completed tasks per second. */
  throughput?: number;
  /** For async rows: the rate at which submits were accepted. */
  submitRate?: number;
  latency?: Latency;
  ok?: number;
  errors?: number;
  cpuMsPerTask?: CpuPerTask;
  rssMb?: number;
  /** Memory rows: RSS growth per held request, in KB. */
  perHeldKb?: number;
  /** Why a row has no numbers (peer unavailable), or what to know when reading it. */
  note?: string;
}
