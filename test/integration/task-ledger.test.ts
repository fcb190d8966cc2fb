/**
 * The task ledger against the real broker, database and a real Python Celery worker: what an
 * API key reads of its waited external task (issue 20, defect 3), the Node client's byte bound
 * on the replies it keeps (defect 5), a GET ?wait= whose client leaves during the first read
 * (defect 6), and the ledger's gauges.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import net, { type Socket } from 'node:net';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { createClient, type Client } from '../../shared/src/client/client.js';
import { type TaskHandle } from '../../shared/src/client/handle.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, waitFor, type Task } from '../helpers/harness.js';
import { startPythonWorker } from '../helpers/python-celery.js';

const turns = async (n = 3): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('task ledger', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('an API key reads its own waited external task, as submitted (owner and arguments), after a Python worker answered it', async () => {
    const queue = ctx.queue('pyowner');
    await startPythonWorker(ctx, queue);
    const gw = await ctx.startGateway({ config: { authMode: 'keys' }, externalTasks: [{ name: 'py.describe', queue }] });
    const keys = new ApiKeyStore(ctx.pool);
    const alice = { authorization: `Bearer ${(await keys.create({ name: 'alice', scopes: 'py.*,tasks:read' })).secret}` };
    const bob = { authorization: `Bearer ${(await keys.create({ name: 'bob', scopes: 'py.*,tasks:read' })).secret}` };
    const waited = await http<Task>(`${gw.url}/api/v1/tasks/py.describe?wait=60`, { json: { args: [1, 'two'], kwargs: { three: [3] } }, headers: alice });
    assert.equal(waited.status, 200, JSON.stringify(waited.body));
    assert.deepEqual(waited.body.result, { runtime: 'python', args: [1, 'two'], kwargs: { three: [3] } });
    const stored = await ctx.store.get(waited.body.id);
    assert.ok(stored?.owner, 'the row names its owner');
    assert.deepEqual([stored.args, stored.kwargs], [[1, 'two'], { three: [3] }]);
    const mine = await http<Task>(`${gw.url}/api/v1/tasks/${waited.body.id}`, { headers: alice });
    assert.equal(mine.status, 200, 'what an owner reads is what it submitted, ?wait= or not');
    assert.deepEqual([mine.body.state, mine.body.args], ['SUCCESS', [1, 'two']]);
    assert.equal((await http(`${gw.url}/api/v1/tasks/${waited.body.id}`, { headers: bob })).status, 404);
  });

  it('the Node client keeps the replies nobody reads within its byte bound, and loses nothing by it', async () => {
    const queue = ctx.queue('ledgerbytes');
    await ctx.startWorker({ queues: [queue] });
    const maxBytes = 1024 * 1024;
    const client: Client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, logger: ctx.logger, env: {}, ledgerMaxBytes: maxBytes });
    ctx.defer(() => client.close());
    // 16 fire-and-forget submits whose replies carry ~100 KB each (and their ~100 KB argument):
    // about 3.2 MB heard, three times the bound.
    const payload = 'x'.repeat(100_000);
    const handles: TaskHandle[] = [];
    for (let i = 0; i < 16; i++) handles.push(await client.submit('demo.echo', [payload, i], {}, { queue }));
    const ledger = client.core.ledger;
    const last = handles.at(-1)!.id;
    await waitFor('every task to finish', async () => {
      const rows = await Promise.all(handles.map((h) => ctx.store.get(h.id)));
      return rows.every((r) => r?.state === 'SUCCESS');
    }, { timeoutMs: 60_000 });
    await waitFor('the last reply to be heard', () => ledger.outcomeOf(last) !== undefined || ledger.stateOf(last) === undefined);
    const { bytes, entries } = ledger.size;
    assert.ok(bytes <= maxBytes, `${bytes} bytes kept, over the ${maxBytes}-byte bound`);
    assert.ok(entries < handles.length, `${entries} entries kept for ${handles.length} submits`);
    // A forgotten reply is read from the store: nothing is lost.
    const first = (await handles[0]!.result({ timeoutMs: 10_000 })) as { args: unknown[] };
    assert.deepEqual(first.args, [payload, 0]);
    assert.equal(await handles[0]!.state(), 'SUCCESS');
  });

  it('GET ?wait= whose client leaves during the first read leaves no wait behind', async () => {
    const queue = ctx.queue('gone');
    const { url, gateway } = await ctx.startGateway();
    // Nobody consumes the queue: the task stays PENDING, so the GET would wait.
    const pending = await http<Task>(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [1], options: { queue } } });
    assert.equal(pending.status, 202);
    const id = pending.body.id;
    // The server side of our request's socket, to know when the gateway saw the client go.
    let serverSocket: Socket | undefined;
    const onRequest = (message: unknown): void => {
      const { request } = message as { request: { url?: string; socket: Socket } };
      if (request.url?.includes(`${id}?wait=`)) serverSocket = request.socket;
    };
    subscribe('http.server.request.start', onRequest);
    ctx.defer(() => {
      unsubscribe('http.server.request.start', onRequest);
      return Promise.resolve();
    });
    // The first read is held until the client is gone, as a slow database read would be.
    const core = gateway.core;
    const read = core.read.bind(core);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let readReturned = false;
    core.read = async (taskId) => {
      await released;
      const task = await read(taskId);
      readReturned = true;
      return task;
    };
    const port = new URL(url).port;
    const socket = net.connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`GET /api/v1/tasks/${id}?wait=50 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await waitFor('the request to reach the gateway', () => serverSocket !== undefined);
    socket.destroy();
    await waitFor('the gateway to see the client go', () => serverSocket?.destroyed === true);
    await turns();
    release();
    await waitFor('the read to return', () => readReturned);
    await turns();
    assert.equal(gateway.core.waiters.size, 0, 'no wait held for a client already gone');
    core.read = read;
  });

  it('the gateway exports the ledger size as gauges', async () => {
    const { url } = await ctx.startGateway();
    const metrics = await http<string>(`${url}/metrics`);
    assert.match(metrics.body, /^celerity_ledger_entries({[^}]*})? \d+$/m);
    assert.match(metrics.body, /^celerity_ledger_bytes({[^}]*})? \d+$/m);
  });
});
