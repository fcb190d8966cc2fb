/**
 * What the remote-control handlers act on. `ControlTarget`'s optional methods come from other
 * parts of the worker (revoke, autoscaling): when a worker lacks one, the command gets Celery's
 * error reply `{"error": "... not supported by this worker"}` instead.
 */
import type { ConsumeMessage } from 'amqplib';

export interface ControlTarget {
  /** The worker's name: the key of its replies and what `destination` names. */
  readonly name: string;
  /** Revoke tasks (Celery's `revoke`); `terminate` also stops them where they run. */
  revoke?(ids: readonly string[], options: { terminate: boolean; reason?: string }): unknown;
  /** Sets the tasks run at once. */
  resize?(concurrency: number): unknown;
  /** Tasks run at once now. */
  readonly concurrency?: number;
  /** `rate` as Celery writes it (`10/s`, `5/m`, `100/h`); null lifts the limit. Throws on a rate that does not parse. */
  setRateLimit?(taskName: string, rate: string | null): unknown;
}

/** One delivery the worker holds. */
export interface HeldDelivery {
  queue: string;
  message: ConsumeMessage;
  /** Running (Celery's `active`), or waiting for a slot (`reserved`). */
  running: boolean;
}

/** What the built-in commands read and do, besides the target's optional parts. */
export interface ControlWorker {
  target: () => ControlTarget;
  /** The task names this worker runs. */
  taskNames: readonly string[];
  queues: () => readonly string[];
  addQueue: (queue: string) => Promise<boolean>;
  cancelQueue: (queue: string) => Promise<boolean>;
  deliveries: () => HeldDelivery[];
  /** Tasks finished since start, by task name. */
  totals: () => Promise<Record<string, number>>;
  /** Tasks run at once, when the target does not say (a worker without autoscaling). */
  concurrency: number;
  /** [soft, hard] time limits in seconds; null = none. */
  timeLimits: [number | null, number | null];
  /** Broker host, port and vhost for `stats`. */
  broker: { hostname: string; port: number; virtualHost: string };
  /** Graceful stop, as SIGTERM. */
  shutdown: () => void;
}
