/**
 * Per-key concurrency, fleet-wide, between admit and claim (task-runner.ts). A task of a type
 * with `concurrency` takes a slot of its key in PostgreSQL (flow_slots) before it runs and
 * gives it back when its run ends; with the key full it is parked (flow_waiting) and its
 * message acked, so a key with a long backlog never holds the queue's head: the tasks of other
 * keys behind it are consumed and run. A freed slot goes to the key's oldest waiting task,
 * which is published back onto its queue and finds its slot when it arrives.
 *
 * Slots are leases: their holder renews them every SLOT_RENEW_MS for SLOT_LEASE_MS, and any
 * worker's sweep deletes expired ones and hands their room on, so a worker killed with -9 gives
 * its slots back within SLOT_LEASE_MS + SWEEP_MS. Cost: tasks without `concurrency` none; a
 * limited task one transaction at its start and one at its end.
 */
import type { Options } from 'amqplib';
import type { ConcurrencyConfig, Catalogue } from '../../../shared/src/app/index.js';
import { REPUBLISHED_HEADER, type Logger } from '../../../shared/src/core/index.js';
import {
  publishProperties,
  republishHeaders,
  taskTarget,
  type DeclaredQueues,
  type Publisher,
  type TaskMessage,
} from '../../../shared/src/broker/index.js';
import type { FlowKey, FlowKeyTx, FlowStore, HeldSlot, KnownTask, LiveSlot, WaitingTask } from '../../../shared/src/store/index.js';
import type { Admitted, Refusal } from '../pipeline/admit.js';
import type { Delivery } from '../pipeline/types.js';
import { decideEntry, flowKeyOf, keyLimit, pickDispatch } from './decide.js';

/** How long a running task's slot lives without renewal, in ms: the bound on a dead worker's slots (plus SWEEP_MS). */
const SLOT_LEASE_MS = 20_000;
/** How often a worker renews the slots of its running tasks, in ms (a quarter of the lease: three renewals may fail). */
const SLOT_RENEW_MS = 5_000;
/**
 * How long a slot handed to a waiting task lives until the task arrives and takes it, in ms.
 * Longer than a normal trip through the queue; a task arriving later finds its slot gone and
 * takes another or waits again, keeping its turn.
 */
const DISPATCH_SLOT_MS = 60_000;
/** How often each worker sweeps expired slots and dispatches waiting tasks of keys with room, in ms. */
const SWEEP_MS = 3_000;
/** Most keys one sweep looks at. */
const SWEEP_MAX_KEYS = 500;

/** What the task runner gets: go on (holding `slot` when the task is limited), or a refusal to settle. */
export type FlowEntry = { kind: 'enter'; slot: HeldSlot | undefined } | Refusal;

/** The entry of a task without `concurrency`. */
export const UNLIMITED: FlowEntry = { kind: 'enter', slot: undefined };

/** Counters of flow control, labelled by task only (bounded). */
interface FlowMetrics {
  parked: { inc(labels: { task: string }): void };
  dispatched: { inc(labels: { task: string }): void };
  superseded: { inc(labels: { task: string }): void };
}

export interface FlowGateOptions {
  store: FlowStore;
  publisher: Publisher;
  /** Task queues declared so far: a waiting task goes back onto its queue. */
  taskQueues: DeclaredQueues;
  catalogue: Catalogue;
  /** Durable revoke with broadcast (worker/src/revoke/): how `cancel-in-progress` stops the running tasks of a key. */
  revoke: (ids: readonly string[], options: { terminate: boolean; reason: string; known: readonly KnownTask[] }) => Promise<unknown>;
  workerName: string;
  logger: Logger;
  metrics: FlowMetrics;
  /** For tests: shorter leases and sweeps. @default the constants above */
  timing?: Partial<{ leaseMs: number; renewMs: number; sweepMs: number; dispatchSlotMs: number }>;
}

export class FlowGate {
  readonly #options: FlowGateOptions;
  readonly #timing: { leaseMs: number; renewMs: number; sweepMs: number; dispatchSlotMs: number };
  /** The slots of the tasks this process runs now, which it renews. */
  readonly #held = new Set<HeldSlot>();
  /** Task types with a limit, by name. */
  readonly #limited: Map<string, ConcurrencyConfig>;
  #renewTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(options: FlowGateOptions) {
    this.#options = options;
    this.#timing = { leaseMs: SLOT_LEASE_MS, renewMs: SLOT_RENEW_MS, sweepMs: SWEEP_MS, dispatchSlotMs: DISPATCH_SLOT_MS, ...options.timing };
    this.#limited = new Map(options.catalogue.names().flatMap((name) => {
      const config = options.catalogue.get(name)?.concurrency;
      return config ? [[name, config] as const] : [];
    }));
  }

  /** Starts renewing and sweeping (nothing to do when no task has a limit). Safe to call twice. */
  start(): void {
    if (this.#limited.size === 0 || this.#renewTimer) return;
    this.#renewTimer = setInterval(() => void this.renew(), this.#timing.renewMs);
    this.#sweepTimer = setInterval(() => void this.sweep(), this.#timing.sweepMs);
    this.#renewTimer.unref();
    this.#sweepTimer.unref();
  }

  /** Stops the timers and waits for a renewal or sweep under way. Safe to call twice. */
  async close(): Promise<void> {
    clearInterval(this.#renewTimer);
    clearInterval(this.#sweepTimer);
    this.#renewTimer = this.#sweepTimer = undefined;
    await Promise.all([this.#renewing, this.#sweeping]);
  }

  /**
   * A task cleared to run: takes its key's slot (UNLIMITED without `concurrency`), or parks it,
   * drops it (`cancel-newest`) or supersedes the running ones (`cancel-in-progress`) and parks
   * it, in one transaction under the key's lock. A database failure throws: the message is
   * requeued, as for a failed claim.
   */
  async enter(admission: Admitted, message: TaskMessage, delivery: Delivery): Promise<FlowEntry> {
    const config = admission.definition.concurrency;
    if (!config) return UNLIMITED;
    const keyed = flowKeyOf(admission.definition, config, admission.args, admission.kwargs);
    if (!keyed.ok) return { kind: 'flow-key-error', message: keyed.message, attempts: admission.attempts, deliveries: admission.deliveries };
    const key: FlowKey = { taskName: message.name, flowKey: keyed.key };
    const limit = keyLimit(config, keyed.key);
    const { store, workerName } = this.#options;
    const outcome = await store.withKey(key, async (tx) => {
      const live = await tx.liveSlots();
      const decision = decideEntry(message.id, live, limit, config.strategy);
      switch (decision.kind) {
        case 'take':
          await tx.takeSlot(message.id, workerName, this.#timing.leaseMs);
          return decision;
        case 'cancel-newest':
          return decision;
        case 'park':
          await tx.park(waitingTask(message.id, delivery));
          return decision;
        case 'supersede': {
          const dropped = await tx.dropWaiting();
          await tx.park(waitingTask(message.id, delivery));
          return { ...decision, dropped };
        }
      }
    });
    const log = { taskId: message.id, task: message.name, flowKey: keyed.key, limit };
    switch (outcome.kind) {
      case 'take': {
        const slot: HeldSlot = { ...key, taskId: message.id };
        this.#held.add(slot);
        return { kind: 'enter', slot };
      }
      case 'park':
        this.#options.metrics.parked.inc({ task: message.name });
        this.#options.logger.debug('concurrency key full: task parked until a slot frees', log);
        return { kind: 'flow-parked' };
      case 'cancel-newest':
        this.#options.metrics.superseded.inc({ task: message.name });
        return { kind: 'flow-cancelled', reason: `cancel-newest: key "${keyed.key}" of ${message.name} already runs ${limit} task(s)` };
      case 'supersede': {
        this.#options.metrics.parked.inc({ task: message.name });
        const reason = `cancel-in-progress: superseded by the newer task ${message.id} of key "${keyed.key}" of ${message.name}`;
        const ids = [...outcome.victims, ...outcome.dropped.map((d) => d.taskId)];
        const known = [...outcome.victims.map((id) => ({ id, name: message.name, queue: delivery.queue })), ...outcome.dropped.map((d) => ({ id: d.taskId, name: message.name, queue: d.queue }))];
        this.#options.metrics.superseded.inc({ task: message.name });
        this.#options.logger.info('concurrency key full: revoking the older tasks of the key, this one waits for their slot', { ...log, revoked: ids });
        try {
          await this.#options.revoke(ids, { terminate: true, reason, known });
        } catch (err) {
          // The task stays parked: it runs when the running ones end on their own.
          this.#options.logger.warn('could not revoke the tasks this one supersedes', { ...log, err });
        }
        return { kind: 'flow-parked' };
      }
    }
  }

  /** A claim refused because another copy runs the task now: its slot is that copy's, so `leave` keeps it. */
  keep(entry: FlowEntry): void {
    if (entry.kind === 'enter' && entry.slot) {
      this.#held.delete(entry.slot);
      entry.slot = undefined;
    }
  }

  /**
   * The run is over (any outcome): its slot goes to the key's oldest waiting task, which is
   * published back onto its queue. Never throws: a slot not given back here expires and the
   * sweep hands it on.
   */
  async leave(entry: FlowEntry): Promise<void> {
    if (entry.kind !== 'enter' || !entry.slot) return;
    const slot = entry.slot;
    this.#held.delete(slot);
    await this.#dispatch(slot, slot.taskId).catch((err: unknown) => {
      this.#options.logger.warn('could not give back a concurrency slot; it frees when it expires', { taskId: slot.taskId, task: slot.taskName, flowKey: slot.flowKey, err });
    });
  }

  /** Renews the slots held here; reports to the logger and never throws. */
  renew(): Promise<void> {
    this.#renewing ??= (async () => {
      const held = [...this.#held];
      try {
        const renewed = await this.#options.store.renew(held, this.#options.workerName, this.#timing.leaseMs);
        for (const slot of held) {
          if (!renewed.has(slot.taskId) && this.#held.has(slot)) {
            this.#options.logger.warn('a running task lost its concurrency slot (it expired while it could not be renewed)', { taskId: slot.taskId, task: slot.taskName, flowKey: slot.flowKey });
          }
        }
      } catch (err) {
        this.#options.logger.warn('could not renew the concurrency slots held here; will try again', { slots: held.length, err });
      } finally {
        this.#renewing = undefined;
      }
    })();
    return this.#renewing;
  }

  /**
   * Deletes expired slots (a dead worker's) and dispatches the waiting tasks of every key with
   * room, including dispatches that did not complete; reports to the logger and never throws.
   */
  sweep(): Promise<void> {
    this.#sweeping ??= (async () => {
      try {
        const names = [...this.#limited.keys()];
        const { store } = this.#options;
        const freed = await store.sweepExpired(names);
        const waiting = await store.keysWaiting(names, SWEEP_MAX_KEYS);
        const keys = new Map(freed.map((k) => [JSON.stringify([k.taskName, k.flowKey]), k]));
        for (const k of waiting) {
          const config = this.#limited.get(k.taskName);
          if (config && k.live < keyLimit(config, k.flowKey)) keys.set(JSON.stringify([k.taskName, k.flowKey]), k);
        }
        for (const key of keys.values()) await this.#dispatch(key, undefined);
      } catch (err) {
        this.#options.logger.warn('concurrency sweep failed; will try again', { err });
      } finally {
        this.#sweeping = undefined;
      }
    })();
    return this.#sweeping;
  }

  /**
   * One transaction: `released`'s slot deleted (when given), then the key's oldest waiting tasks
   * get the room, marked dispatched with slots of their own; after the commit each is published
   * (confirmed) and its waiting row deleted.
   */
  async #dispatch(key: FlowKey, released: string | undefined): Promise<void> {
    const config = this.#limited.get(key.taskName);
    const { store, workerName, publisher, taskQueues, metrics, logger } = this.#options;
    const limit = config ? keyLimit(config, key.flowKey) : 0;
    const { picked, stamp } = await store.withKey(key, async (tx: FlowKeyTx) => {
      if (released !== undefined) await tx.releaseSlot(released);
      if (limit === 0) return { picked: [], stamp: undefined };
      const live: LiveSlot[] = await tx.liveSlots();
      const chosen = pickDispatch(await tx.dispatchable(limit + live.length), live, limit);
      return { picked: chosen, stamp: await tx.dispatch(chosen, workerName, this.#timing.dispatchSlotMs) };
    });
    for (const task of picked) {
      await publisher.publish(taskTarget(taskQueues, task.queue, 'redeclare'), { content: task.content, options: { ...(task.properties as Options.Publish), correlationId: task.taskId } });
      if (stamp) await store.deleteDispatched(task.seq, stamp);
      metrics.dispatched.inc({ task: key.taskName });
      logger.debug('waiting task dispatched: a slot of its key is free', { taskId: task.taskId, task: key.taskName, flowKey: key.flowKey });
    }
  }
}

/**
 * The message as it is published again when its turn comes: the same body and properties,
 * marked as seen before so that its worker reads the store first (a copy published twice by
 * an interrupted dispatch is answered, never run twice).
 */
function waitingTask(taskId: string, delivery: Delivery): WaitingTask {
  const headers = { ...republishHeaders(delivery.properties.headers), [REPUBLISHED_HEADER]: true };
  return { taskId, queue: delivery.queue, content: delivery.content, properties: { ...publishProperties(delivery.properties), headers, deliveryMode: 2 } };
}

