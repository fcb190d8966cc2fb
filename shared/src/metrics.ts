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

/** Latency buckets in seconds, from 0.5 ms to 60 s. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
