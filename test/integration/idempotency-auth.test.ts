/**
 * Idempotency keys belong to the API key that used them: another key's "k1" neither replays nor
 * reveals a task. Batch submits are owned by their key too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { TestContext, http, type GatewayHandle, type Task } from '../helpers/harness.js';

describe('Idempotency-Key with API keys', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  let queue: string;
  let alice: string;
  let bob: string;
  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('idemauth');
    gw = await ctx.startGateway({ config: { authMode: 'keys' } });
    const keys = new ApiKeyStore(ctx.pool);
    alice = (await keys.create({ name: 'alice', scopes: 'demo.*,tasks:read' })).secret;
    bob = (await keys.create({ name: 'bob', scopes: 'demo.*,tasks:read' })).secret;
  });
  after(async () => {
    await ctx.cleanup();
  });

  const submit = (key: string, idem: string, args: number[]): Promise<{ status: number; headers: Headers; body: Task & { error: { code: string } } }> =>
    http(`${gw.url}/api/v1/tasks/demo.add`, { json: { args, options: { queue } }, headers: { authorization: `Bearer ${key}`, 'idempotency-key': idem } });

  it('the same key replays its own task; another key with the same Idempotency-Key gets a task of its own', async () => {
    const first = await submit(alice, 'k1', [1, 2]);
    assert.equal(first.status, 202);
    const replay = await submit(alice, 'k1', [1, 2]);
    assert.equal(replay.body.id, first.body.id);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    const other = await submit(bob, 'k1', [1, 2]);
    assert.equal(other.status, 202);
    assert.notEqual(other.body.id, first.body.id);
    assert.equal(other.headers.get('idempotent-replayed'), null);
    // Other content under the same header value is not a conflict with alice's use of it either.
    const otherContent = await submit(bob, 'k1-other', [5, 5]);
    assert.equal(otherContent.status, 202);
    const aliceDifferent = await submit(alice, 'k1', [9, 9]);
    assert.equal(aliceDifferent.body.error.code, 'IDEMPOTENCY_KEY_REUSED', "alice's own reuse with other content is still refused");
  });

  it('a batch submitted with a key is owned by it: that key reads its tasks, another key gets 404, an item outside the scopes is 403', async () => {
    const keys = new ApiKeyStore(ctx.pool);
    const addOnly = (await keys.create({ name: 'add-only', scopes: 'demo.add,tasks:read' })).secret;
    const batch = await http<{ tasks: Task[] }>(`${gw.url}/api/v1/tasks`, {
      json: { tasks: [{ name: 'demo.add', args: [1, 1], options: { queue } }, { name: 'demo.add', args: [2, 2], options: { queue } }] },
      headers: { authorization: `Bearer ${alice}` },
    });
    assert.equal(batch.status, 202);
    for (const task of batch.body.tasks) {
      const mine = await http<Task>(`${gw.url}/api/v1/tasks/${task.id}`, { headers: { authorization: `Bearer ${alice}` } });
      assert.equal(mine.status, 200);
      const theirs = await http(`${gw.url}/api/v1/tasks/${task.id}`, { headers: { authorization: `Bearer ${bob}` } });
      assert.equal(theirs.status, 404);
    }
    const outside = await http<{ error: { code: string } }>(`${gw.url}/api/v1/tasks`, {
      json: { tasks: [{ name: 'demo.add', args: [1, 1], options: { queue } }, { name: 'demo.echo', args: [], options: { queue } }] },
      headers: { authorization: `Bearer ${addOnly}` },
    });
    assert.equal(outside.status, 403);
  });
});
