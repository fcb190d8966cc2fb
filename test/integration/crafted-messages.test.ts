/**
 * Task messages published straight onto a task queue with claims out of range, against the real
 * worker, broker and database: a negative, huge or fractional `retries`, or a `reply_to` naming
 * another application's queue. Each is dead-lettered as malformed with its reason, never run,
 * and nothing is published to the foreign queue.
 */
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { encodeTaskMessage, newTaskMessage } from '../../shared/src/broker/protocol.js';
import { TEST_AMQP_URL, TestContext, waitFor } from '../helpers/harness.js';

describe('crafted task messages', () => {
  let ctx: TestContext;
  let queue: string;
  let foreign: string;
  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('crafted');
    foreign = ctx.queue('foreign');
    const connection = await amqp.connect(TEST_AMQP_URL);
    try {
      await (await connection.createChannel()).assertQueue(foreign, { durable: true });
    } finally {
      await connection.close();
    }
    await ctx.startWorker({ queues: [queue] });
  });
  after(async () => {
    await ctx.cleanup();
  });

  /** Publishes demo.add(1, 2) with `headers` laid over and `replyTo`; resolves with its id. */
  async function publishCrafted(headers: Record<string, unknown>, replyTo?: string): Promise<string> {
    const id = randomUUID();
    const { content, options } = encodeTaskMessage(newTaskMessage({ id, name: 'demo.add', args: [1, 2], kwargs: {}, ...(replyTo ? { replyTo } : {}) }));
    await ctx.publishRaw(queue, content, { ...options, headers: { ...options.headers, ...headers } });
    return id;
  }

  it('dead-letters negative, huge and fractional retries and a foreign reply_to as malformed, without running them', async () => {
    const cases = [
      { headers: { retries: -1000 }, reason: /retries header/ },
      { headers: { retries: 2 ** 31 }, reason: /retries header/ },
      { headers: { retries: 1e300 }, reason: /retries header/ },
      { headers: { retries: 1.5 }, reason: /retries header/ },
      { headers: {}, replyTo: foreign, reason: /reply_to must name a reply queue/ },
    ];
    const ids: string[] = [];
    for (const c of cases) ids.push(await publishCrafted(c.headers, c.replyTo));
    const dead = await waitFor('every crafted message to be dead-lettered', async () => {
      const letters = await ctx.deadLetters(queue);
      return ids.every((id) => letters.some((l) => l.id === id)) ? letters : undefined;
    }, { timeoutMs: 30_000 });
    for (const [i, id] of ids.entries()) {
      const letter = dead.find((l) => l.id === id);
      assert.equal(letter?.reason, 'malformed', JSON.stringify(letter));
      assert.match(letter?.error?.message ?? '', cases[i]!.reason);
      const row = await ctx.finalRow(id);
      assert.equal(row.state, 'FAILURE', `${JSON.stringify(cases[i]!.headers)} was not run`);
      assert.equal(row.result ?? null, null);
    }
    assert.equal((await ctx.queueDepth(foreign)).messages, 0, 'nothing was published to the foreign queue');
  });
});
