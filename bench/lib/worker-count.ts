/**
 * Completion of tasks that leave no row (result mode `none`): read from the worker's
 * `celerity_worker_tasks_total` on its /metrics, since the store has nothing to count.
 */
import { httpRequest, makeAgent } from './load.js';

/** Tasks the worker on `port` has finished so far (every outcome but `retry`). */
async function finishedCount(agent: ReturnType<typeof makeAgent>, port: number): Promise<number> {
  const { body } = await httpRequest(agent, port, 'GET', '/metrics');
  let total = 0;
  for (const line of body.split('\n')) {
    if (!line.startsWith('celerity_worker_tasks_total{') || line.includes('outcome="retry"')) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * Waits until the worker on `port` has finished `expected` tasks (counted from `before`, its
 * count when the load started); the rate is tasks ÷ seconds from `startedAt` (performance.now())
 * to when the count was reached, polled every 100 ms.
 */
export async function drainByMetrics(port: number, before: number, expected: number, startedAt: number, timeoutMs: number): Promise<{ done: number; completionRate: number }> {
  const agent = makeAgent(1);
  try {
    const deadline = Date.now() + timeoutMs;
    let done = 0;
    while (Date.now() < deadline) {
      done = (await finishedCount(agent, port)) - before;
      if (done >= expected) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seconds = (performance.now() - startedAt) / 1000;
    return { done, completionRate: seconds > 0 ? Math.round(done / seconds) : 0 };
  } finally {
    agent.destroy();
  }
}

/** The worker's finished count now (the `before` of `drainByMetrics`). */
export async function workerFinished(port: number): Promise<number> {
  const agent = makeAgent(1);
  try {
    return await finishedCount(agent, port);
  } finally {
    agent.destroy();
  }
}
