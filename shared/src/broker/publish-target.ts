/**
 * Where a confirmed publish goes, and what the broker returning it (no queue took it) means.
 * Every confirmed publish names one of these targets (publisher.ts); the rule on a return is a
 * property of the target, never of the caller's error handling:
 *
 * - a submit: `taskTarget`, or `delayedTarget` with a countdown (the delay level's queue and
 *   the task queue): `fail`;
 * - a re-drive of a dead letter: `taskTarget`: `fail`;
 * - a worker's retry or deferral: `delayedTarget` (the delay level's queue): `redeclare`;
 * - a worker's dead letter: `deadLetterTarget` (`<queue>.dead`): `redeclare`.
 *
 * `fail` forgets the queues (the next publish declares them again) and fails with
 * QUEUE_UNAVAILABLE: the caller has promised nothing yet and may try again. `redeclare` forgets
 * them, declares them again and publishes once more, then fails like `fail`: the worker holds a
 * delivery it acks only after this confirm, so a queue deleted behind its back must not cost
 * the message.
 */
import type { DeclaredQueues } from './declared-topology.js';
import { DELAY_EXCHANGE, delayQueueName } from './delay.js';
import { deadLetterQueueName } from './dead-letters.js';

/** A queue a target's messages need, with the set that declares it. */
interface RequiredQueue {
  queues: DeclaredQueues;
  name: string;
}

export type ReturnRule = 'fail' | 'redeclare';

export interface PublishTarget {
  exchange: string;
  routingKey: string;
  /** Declared (once, through their sets) before the publish; forgotten on a return. */
  requires: readonly RequiredQueue[];
  onReturn: ReturnRule;
}

/** A task queue, through the default exchange. */
export function taskTarget(taskQueues: DeclaredQueues, queue: string, onReturn: ReturnRule = 'fail'): PublishTarget {
  return { exchange: '', routingKey: queue, requires: [{ queues: taskQueues, name: queue }], onReturn };
}

/**
 * A task queue after a wait in delay level `levelMs` (delay.ts). `taskQueues`: the set that
 * declares the task queue too, for a submitter; a worker consumes the queue, so it passes none.
 */
export function delayedTarget(delayQueues: DeclaredQueues, levelMs: number, queue: string, onReturn: ReturnRule, taskQueues?: DeclaredQueues): PublishTarget {
  const requires: RequiredQueue[] = [{ queues: delayQueues, name: delayQueueName(levelMs) }];
  if (taskQueues) requires.push({ queues: taskQueues, name: queue });
  return { exchange: DELAY_EXCHANGE, routingKey: queue, requires, onReturn };
}

/** The dead-letter queue of `queue`, `<queue>.dead`, for the worker. */
export function deadLetterTarget(deadLetterQueues: DeclaredQueues, queue: string): PublishTarget {
  const dead = deadLetterQueueName(queue);
  return { exchange: '', routingKey: dead, requires: [{ queues: deadLetterQueues, name: dead }], onReturn: 'redeclare' };
}
