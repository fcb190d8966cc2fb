/**
 * The shapes of Celery's inspect replies (celery/worker/control.py, `Request.info`,
 * `Queue.as_dict`), built from what a Celerity worker holds. Pure: tested without a broker.
 */
import { resourceUsage } from 'node:process';
import { decodeTaskMessage, taskQueueArguments } from '../../../shared/src/broker/index.js';
import type { QueueTypes } from '../../../shared/src/core/index.js';
import type { HeldDelivery } from './control-target.js';

/** `{"ok": text}` and `{"error": text}`: celery/worker/control.py's `ok()` and `nok()`. */
export const ok = (value: string): { ok: string } => ({ ok: value });
export const nok = (value: string): { error: string } => ({ error: value });

/** Celery's `Request.info()` of a held delivery. A message that does not decode shows its headers only. */
export function requestInfo(delivery: HeldDelivery, hostname: string): Record<string, unknown> {
  const { message } = delivery;
  const headers: Record<string, unknown> = message.properties.headers ?? {};
  let task: { id: unknown; name: unknown; args: unknown; kwargs: unknown };
  try {
    const decoded = decodeTaskMessage(message.content, message.properties);
    task = { id: decoded.id, name: decoded.name, args: decoded.args, kwargs: decoded.kwargs };
  } catch {
    task = { id: headers.id ?? null, name: headers.task ?? null, args: null, kwargs: null };
  }
  return {
    ...task,
    type: task.name,
    hostname,
    time_start: null,
    acknowledged: false,
    delivery_info: {
      exchange: message.fields.exchange,
      routing_key: message.fields.routingKey,
      priority: (message.properties.priority as number | undefined) ?? null,
      redelivered: message.fields.redelivered,
    },
    worker_pid: process.pid,
  };
}

/** One consumed queue as Celery's `active_queues` lists it (kombu's `Queue.as_dict(recurse=True)`). */
export function queueInfo(queue: string, types?: QueueTypes): Record<string, unknown> {
  const args = taskQueueArguments(queue, types);
  return {
    name: queue,
    exchange: { name: queue, type: 'direct', arguments: null, durable: true, passive: false, auto_delete: false, delivery_mode: null, no_declare: false },
    routing_key: queue,
    queue_arguments: Object.keys(args).length > 0 ? args : null,
    binding_arguments: null,
    consumer_arguments: null,
    durable: true,
    exclusive: false,
    auto_delete: false,
    no_ack: false,
    alias: null,
    bindings: [],
    no_declare: null,
    expires: null,
    message_ttl: null,
    max_length: null,
    max_length_bytes: null,
    max_priority: types?.maxPriority?.[queue] ?? null,
  };
}

export interface StatsInput {
  totals: Record<string, number>;
  concurrency: number;
  timeLimits: [number | null, number | null];
  broker: { hostname: string; port: number; virtualHost: string };
  clock: number;
  uptimeS: number;
  version: string;
}

/** Celery's `stats` reply: the keys Flower and `celery inspect stats` read. */
export function statsReply(input: StatsInput): Record<string, unknown> {
  const usage = resourceUsage();
  return {
    total: input.totals,
    pid: process.pid,
    clock: String(input.clock),
    uptime: Math.floor(input.uptimeS),
    pool: {
      implementation: 'celerity',
      'max-concurrency': input.concurrency,
      processes: [process.pid],
      'max-tasks-per-child': 'N/A',
      'put-guarded-by-semaphore': false,
      timeouts: input.timeLimits,
    },
    broker: {
      hostname: input.broker.hostname,
      port: input.broker.port,
      virtual_host: input.broker.virtualHost,
      transport: 'amqp',
      ssl: false,
      heartbeat: null,
      connect_timeout: null,
      insist: false,
      login_method: null,
      uri_prefix: null,
      userid: null,
      alternates: [],
      failover_strategy: null,
      transport_options: {},
    },
    prefetch_count: input.concurrency,
    rusage: {
      utime: usage.userCPUTime / 1e6,
      stime: usage.systemCPUTime / 1e6,
      maxrss: usage.maxRSS,
      ixrss: usage.sharedMemorySize,
      idrss: usage.unsharedDataSize,
      isrss: usage.unsharedStackSize,
      minflt: usage.minorPageFault,
      majflt: usage.majorPageFault,
      nswap: usage.swappedOut,
      inblock: usage.fsRead,
      oublock: usage.fsWrite,
      msgsnd: usage.ipcSent,
      msgrcv: usage.ipcReceived,
      nsignals: usage.signalsCount,
      nvcsw: usage.voluntaryContextSwitches,
      nivcsw: usage.involuntaryContextSwitches,
    },
    sw_ident: 'celerity',
    sw_ver: input.version,
  };
}
