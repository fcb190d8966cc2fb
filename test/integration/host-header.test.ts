/** DNS rebinding: a gateway without authentication answers only to loopback and allowed Host names. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { TestContext, type GatewayHandle } from '../helpers/harness.js';

/** GET with an explicit Host header (fetch does not let a caller set one). */
function getWithHost(base: string, path: string, host: string): Promise<{ status: number; body: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Host header check with AUTH_MODE=none', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  before(async () => {
    ctx = await TestContext.create();
    gw = await ctx.startGateway({ config: { allowedHosts: ['celerity.internal'] } });
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('a rebinding name gets 421 HOST_NOT_ALLOWED on /api and /dashboard', async () => {
    for (const path of ['/api/v1/tasks/some-id', '/dashboard']) {
      const res = await getWithHost(gw.url, path, 'attacker.example:8080');
      assert.equal(res.status, 421, path);
      assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, 'HOST_NOT_ALLOWED');
    }
  });

  it('loopback names, allowed names and the probes pass', async () => {
    for (const host of ['localhost:8080', '127.0.0.1', '[::1]:80', 'app.localhost', 'CELERITY.internal:443']) {
      const res = await getWithHost(gw.url, '/api/v1/tasks/some-id', host);
      assert.equal(res.status, 404, `${host}: ${res.body}`);
    }
    assert.equal((await getWithHost(gw.url, '/healthz', 'attacker.example')).status, 200);
  });
});
