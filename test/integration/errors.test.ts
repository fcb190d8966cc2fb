/** Bad input gets a clear coded error and publishes nothing. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestContext, http, type GatewayHandle } from '../helpers/harness.js';

interface ErrorBody {
  error: { code: string; message: string };
}

describe('gateway errors', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  let queue: string;
  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('errors');
    gw = await ctx.startGateway({ maxBodyBytes: 64 * 1024 });
  });
  after(async () => {
    try {
      // Nothing that failed validation reached the broker (the queue was never even declared).
      assert.deepEqual(await ctx.queueDepth(queue), { exists: false, messages: 0, consumers: 0 });
    } finally {
      await ctx.cleanup();
    }
  });

  const cases: { name: string; path: string; init: Parameters<typeof http>[1]; status: number; code: string; mentions?: RegExp }[] = [
    { name: 'malformed JSON', path: 'demo.add', init: { body: '{"args": [1,', headers: { 'content-type': 'application/json' } }, status: 400, code: 'MALFORMED_JSON' },
    { name: 'arguments that fail the schema', path: 'demo.add', init: { json: { args: ['a', 2] } }, status: 400, code: 'INVALID_ARGUMENTS', mentions: /args\.0/ },
    { name: 'wrong arity', path: 'demo.add', init: { json: { args: [1] } }, status: 400, code: 'INVALID_ARGUMENTS' },
    { name: 'fib beyond its bound', path: 'demo.fib', init: { json: { args: [1000] } }, status: 400, code: 'INVALID_ARGUMENTS' },
    { name: 'unknown kwargs', path: 'demo.add', init: { json: { args: [1, 2], kwargs: { x: 1 } } }, status: 400, code: 'INVALID_ARGUMENTS' },
    { name: 'args not an array', path: 'demo.add', init: { json: { args: 'nope' } }, status: 400, code: 'INVALID_REQUEST' },
    { name: 'unknown top-level field', path: 'demo.add', init: { json: { args: [1, 2], arg: [] } }, status: 400, code: 'INVALID_REQUEST' },
    { name: 'a JSON array body', path: 'demo.add', init: { body: '[1,2]', headers: { 'content-type': 'application/json' } }, status: 400, code: 'INVALID_REQUEST' },
    { name: 'an option out of range', path: 'demo.add', init: { json: { args: [1, 2], options: { priority: 256 } } }, status: 400, code: 'INVALID_REQUEST', mentions: /priority/ },
    { name: 'an expires in the past', path: 'demo.add', init: { json: { args: [1, 2], options: { expires: '2001-01-01T00:00:00Z' } } }, status: 400, code: 'INVALID_OPTIONS', mentions: /expires/ },
    { name: 'countdown and eta together', path: 'demo.add', init: { json: { args: [1, 2], options: { countdown: 5, eta: '2030-01-01T00:00:00Z' } } }, status: 400, code: 'INVALID_OPTIONS', mentions: /countdown or eta/ },
    { name: 'an eta without a time zone', path: 'demo.add', init: { json: { args: [1, 2], options: { eta: '2030-01-01T00:00:00' } } }, status: 400, code: 'INVALID_REQUEST', mentions: /eta/ },
    { name: 'a negative maxRetries', path: 'demo.add', init: { json: { args: [1, 2], options: { maxRetries: -1 } } }, status: 400, code: 'INVALID_REQUEST', mentions: /maxRetries/ },
    { name: 'a soft time limit over the hard one', path: 'demo.add', init: { json: { args: [1, 2], options: { timeLimit: 5, softTimeLimit: 10 } } }, status: 400, code: 'INVALID_OPTIONS', mentions: /softTimeLimit/ },
    { name: 'an Idempotency-Key with a space', path: 'demo.add', init: { json: { args: [1, 2] }, headers: { 'idempotency-key': 'two words' } }, status: 400, code: 'INVALID_IDEMPOTENCY_KEY', mentions: /Idempotency-Key/ },
    { name: 'an unknown option', path: 'demo.add', init: { json: { args: [1, 2], options: { colour: 'red' } } }, status: 400, code: 'INVALID_REQUEST' },
    { name: 'an invalid queue name', path: 'demo.add', init: { json: { args: [1, 2], options: { queue: 'amq.nope' } } }, status: 400, code: 'INVALID_QUEUE' },
    { name: 'an unknown task', path: 'demo.nope', init: { json: {} }, status: 404, code: 'UNKNOWN_TASK', mentions: /demo\.nope/ },
    { name: 'not JSON', path: 'demo.add', init: { body: 'args=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'a body over the limit', path: 'demo.echo', init: { json: { args: ['x'.repeat(70 * 1024)] } }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
    { name: 'a bad ?wait=', path: 'demo.add?wait=-1', init: { json: { args: [1, 2] } }, status: 400, code: 'INVALID_WAIT' },
    { name: 'a ?wait= over the maximum', path: 'demo.add?wait=100000', init: { json: { args: [1, 2] } }, status: 400, code: 'INVALID_WAIT' },
  ];

  for (const c of cases) {
    it(`${c.status} ${c.code} for ${c.name}`, async () => {
      const withQueue =
        c.init?.json && typeof c.init.json === 'object' && !Array.isArray(c.init.json)
          ? { ...c.init, json: { ...(c.init.json), options: { queue, ...((c.init.json as { options?: object }).options ?? {}) } } }
          : c.init;
      const res = await http<ErrorBody>(`${gw.url}/api/v1/tasks/${c.path}`, withQueue);
      assert.equal(res.status, c.status);
      assert.equal(res.body.error.code, c.code);
      assert.equal(typeof res.body.error.message, 'string');
      if (c.mentions) assert.match(res.body.error.message, c.mentions);
    });
  }

  it('404 TASK_NOT_FOUND for an unknown id', async () => {
    const res = await http<ErrorBody>(`${gw.url}/api/v1/tasks/00000000-0000-0000-0000-000000000000`);
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'TASK_NOT_FOUND');
  });

  it('404 ROUTE_NOT_FOUND as JSON for an unknown route', async () => {
    const res = await http<ErrorBody>(`${gw.url}/api/v2/nothing`);
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'ROUTE_NOT_FOUND');
  });
});
