/** Idempotency keys belong to the API key that used them: another key's "k1" neither replays nor reveals a task. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiKeyStore } from '../../shared/src/index.js';
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
});
