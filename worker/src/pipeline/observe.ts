/**
 * What the pipeline tells observers (worker events through TaskHooks, the queue-wait metric).
 * Observers never steer a task: nothing here awaits or throws.
 */
import { queueWaitSeconds, type TaskMessage } from '../../../shared/src/broker/index.js';
import { type TaskWrite } from '../../../shared/src/core/index.js';
import type { Outcome, WorkerMetrics } from '../metrics.js';
import type { TaskHooks, TaskInfo } from '../task-hooks.js';
import type { Delivery, TaskError } from './types.js';

export function taskInfo(message: TaskMessage, queue: string): TaskInfo {
  return {
    id: message.id,
    name: message.name,
    queue,
    retries: message.retries,
    args: message.args,
    kwargs: message.kwargs,
    rootId: message.rootId,
    parentId: message.parentId,
    eta: message.eta,
    expires: message.expires,
  };
}

/** Queue wait (publish → start) and the `task-started` event. */
export function observeStart(
  metrics: Pick<WorkerMetrics, 'queueWait'>,
  hooks: TaskHooks | undefined,
  message: TaskMessage,
  delivery: Delivery,
  metricTask: string,
  startedAtMs: number,
): void {
  const wait = queueWaitSeconds(delivery.properties.headers, message.eta, startedAtMs);
  if (wait.seconds !== undefined) metrics.queueWait.observe({ task: metricTask, queue: delivery.queue }, wait.seconds);
  hooks?.started(taskInfo(message, delivery.queue));
}

/** The `task-succeeded` or `task-failed` event, with the runtime when the task started. */
export function announceFinish(
  hooks: TaskHooks | undefined,
  message: TaskMessage,
  base: TaskWrite,
  end: { outcome: Outcome; result?: unknown; error?: TaskError },
  finishedAt: Date,
): void {
  if (!hooks) return;
  const info = taskInfo(message, base.queue);
  const runtimeS = base.startedAt ? (finishedAt.getTime() - base.startedAt.getTime()) / 1000 : undefined;
  if (end.outcome === 'success') hooks.succeeded(info, end.result ?? null, runtimeS ?? 0);
  else hooks.failed(info, end.error ?? { type: 'Error', message: 'failed' }, runtimeS);
}
