/**
 * Crash points for the chaos tests (test/chaos/chaos.test.ts), not a setting for users: with
 * CELERITY_FAULT_POINT set (read by cli.ts only), the worker kills itself with SIGKILL at that
 * point of settling a task's final state, so the tests can show what a crash there costs.
 *
 * - `after-reply`: the reply is sent, the final state not committed, the message not acked;
 * - `after-commit`: the final state is committed, the message not acked.
 */
import type { Logger } from '../../../shared/src/core/index.js';

const FAULT_POINTS = ['after-reply', 'after-commit'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

export function isFaultPoint(value: string): value is FaultPoint {
  return (FAULT_POINTS as readonly string[]).includes(value);
}

/**
 * Kills this process at `point`; the returned promise never settles, so the task goes no
 * further (no commit, no ack) in the moment it has left.
 */
export function crashAt(point: FaultPoint, logger: Logger, taskId: string): Promise<never> {
  logger.warn('CELERITY_FAULT_POINT: killing the worker', { point, taskId });
  if (point === 'after-reply') {
    // amqplib writes the reply, already handed to the channel, to the socket on a later turn
    // of the event loop: let it leave before the process dies, or the crash is not "after" it.
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 50);
  } else {
    process.kill(process.pid, 'SIGKILL');
  }
  return new Promise<never>(() => undefined);
}
