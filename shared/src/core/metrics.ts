/**
 * Prometheus registries. Each process owns one registry (never prom-client's global one, so
 * two gateways in one test process do not collide), with the default process metrics.
 * Label values stay bounded: task names and queues, never a task id.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export function createRegistry(service: string, collectDefaults = true): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (collectDefaults) collectDefaultMetrics({ register: registry });
  return registry;
}

/** Latency buckets in seconds, from 0.5 ms to 60 s: for steps that never wait on a task. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Buckets for what may wait on a task (`?wait=`, and HTTP requests holding one): up to an hour,
 * the largest GATEWAY_MAX_WAIT_SECONDS accepts, so no quantile is clipped at a lower bucket.
 */
export const WAIT_BUCKETS = [...LATENCY_BUCKETS, 120, 300, 600, 1800, 3600];

/**
 * Buckets for a task's run time: up to 7 days, the largest time limit a task, a submit or
 * WORKER_TIME_LIMIT_SECONDS may set (the default limit, 1500 s, falls in the 1800 s bucket).
 */
export const RUN_TIME_BUCKETS = [...WAIT_BUCKETS, 7200, 21600, 86400, 604800];

/** What the metrics need of a catalogue to give its tasks series at 0 on start-up. */
export interface KnownTasks {
  names(): string[];
  get(name: string): { queue: string } | undefined;
}

/** The catalogue's task names, each with its default queue. */
export function tasksOf(catalogue: KnownTasks): Array<{ name: string; queue: string }> {
  return catalogue.names().flatMap((name) => {
    const task = catalogue.get(name);
    return task ? [{ name, queue: task.queue }] : [];
  });
}
