/**
 * The task runner's final write: the reply goes before it and the ack after it; it never holds a
 * slot for ever (retryable store errors are retried for a bounded time, refusals for good are not
 * retried but replaced by a FAILURE).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { CelerityError } from '../../shared/src/core/errors.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { decodeResultBody } from '../../shared/src/broker/results.js';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { type Broker } from '../../shared/src/broker/connection.js';
import { type ClaimResult, type TaskClaim } from '../../shared/src/store/task-claims.js';
import { type Publisher } from '../../shared/src/broker/publisher.js';
import { type DeclaredQueues } from '../../shared/src/broker/declared-topology.js';
import { type TaskStore } from '../../shared/src/store/store.js';
import { type TaskWrite } from '../../shared/src/core/task.js';
import { WorkerMetrics } from '../../worker/src/metrics.js';
import { TaskRunner } from '../../worker/src/task-runner.js';
import { demoApp } from '../helpers/demo.js';
import type { ThreadPool } from '../../worker/src/thread-pool.js';
import type { RateStore } from '../../worker/src/flow/rate-store.js';

async function runner(record: (write: TaskWrite) => Promise<void>, recordRetryMs: number): Promise<TaskRunner> {
  // The claim goes through `record` too, as a STARTED write, so each test sees every write in order.
  const claim = async ({ write }: TaskClaim): Promise<ClaimResult> => {
    await record({ ...write, state: 'STARTED' });
    return { claimed: true, attempts: 1, deliveries: 1 };
  };
  const store = { record, claim, get: () => Promise.resolve(undefined), renewLeases: () => Promise.resolve() } as unknown as TaskStore;
  return new TaskRunner({
    catalogue: new Catalogue((await demoApp()).tasks),
    store,
    pool: {} as ThreadPool,
    metrics: new WorkerMetrics(new Registry()),
    logger: createSilentLogger(),
    stopping: new AbortController().signal,
    broker: {} as Broker,
    publisher: {} as Publisher,
    deadLetterQueues: {} as DeclaredQueues,
    delayQueues: {} as DeclaredQueues,
    timeLimitS: 60,
    deliveryLimit: 5,
    recordRetryMs,
    // The demo tasks have no rateLimit and no pause is ever set.
    rates: { typePauses: () => Promise.resolve(new Map()) } as unknown as RateStore,
  });
}

function delivery(replyTo?: string): Parameters<TaskRunner['run']>[0] {
  const message = encodeTaskMessage(newTaskMessage({ id: 't1', name: 'demo.add', args: [1, 2], kwargs: {}, ...(replyTo ? { replyTo } : {}) }));
  return { queue: 'demo', content: message.content, properties: message.options, redelivered: false };
}

describe('task runner result writes', () => {
  it('replies as soon as the result is known, before the final write is committed; the ack waits for the commit', async () => {
    let commit: () => void = () => undefined;
    const committing = new Promise<void>((resolve) => (commit = resolve));
    let finalWrites = 0;
    const r = await runner((write) => {
      if (write.state === 'STARTED') return Promise.resolve();
      finalWrites++;
      return committing;
    }, 60_000);
    const replies: { to: string; body: Buffer }[] = [];
    let settled = false;
    const running = r.run(delivery('celerity.reply.q'), (to, _id, body) => replies.push({ to, body }), new AbortController().signal).finally(() => (settled = true));
    while (finalWrites === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(replies.length, 1, 'replied while the final write is in flight');
    const outcome = decodeResultBody(replies[0]?.body ?? Buffer.alloc(0));
    assert.deepEqual([replies[0]?.to, outcome?.state, outcome?.result, outcome?.senderRecords], ['celerity.reply.q', 'SUCCESS', 3, true]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'not ready to ack before the commit');
    commit();
    assert.equal(await running, 'ack');
  });

  it('gives up after the retry budget while the database is away, so the message can be requeued', async () => {
    let finalTries = 0;
    const r = await runner((write) => {
      if (write.state === 'STARTED') return Promise.resolve();
      finalTries++;
      return Promise.reject(new CelerityError('DATABASE_UNAVAILABLE', 'down'));
    }, 500);
    await assert.rejects(r.run(delivery(), () => undefined, new AbortController().signal), (err: unknown) => err instanceof CelerityError && err.code === 'DATABASE_UNAVAILABLE');
    assert.ok(finalTries >= 2, `retried (${finalTries} tries)`);
  });

  it('a write refused for good is not retried: a FAILURE without the result replaces it, and the message is acked', async () => {
    const writes: TaskWrite[] = [];
    const r = await runner((write) => {
      writes.push(write);
      if (write.state === 'SUCCESS') return Promise.reject(new CelerityError('STORE_WRITE_REFUSED', 'refused'));
      return Promise.resolve();
    }, 60_000);
    assert.equal(await r.run(delivery(), () => undefined, new AbortController().signal), 'ack');
    assert.deepEqual(writes.map((w) => w.state), ['STARTED', 'SUCCESS', 'FAILURE']);
    assert.equal(writes[2]?.error?.type, 'ResultNotStoredError');
    assert.equal(writes[2]?.result, undefined);
  });
});
