/**
 * Slow clients against the real gateway: sockets that trickle their headers or their body are
 * released once GATEWAY_HEADERS_TIMEOUT_MS / GATEWAY_BODY_TIMEOUT_MS have passed, while a held
 * `?wait=` answer is not cut by them; GATEWAY_MAX_CONNECTIONS closes connections past the cap.
 */
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { TestContext, http, waitFor, type GatewayHandle, type Task } from '../helpers/harness.js';

interface SlowSocket {
  socket: Socket;
  closed: boolean;
  received: string;
}

/** Opens a socket that sends `head` at once, then one byte of `drip` every 100 ms. */
function slowSocket(url: string, head: string, drip = 'x'): Promise<SlowSocket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const slow: SlowSocket = { socket, closed: false, received: '' };
    const timer = setInterval(() => {
      if (!socket.destroyed) socket.write(drip);
    }, 100);
    socket.on('data', (chunk: Buffer) => (slow.received += chunk.toString()));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearInterval(timer);
      slow.closed = true;
    });
    socket.once('connect', () => {
      socket.write(head);
      resolve(slow);
    });
    socket.once('error', reject);
  });
}

describe('slow clients', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  let admin: string;
  let queue: string;
  const sockets: SlowSocket[] = [];

  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('slow');
    admin = (await new ApiKeyStore(ctx.pool).create({ name: 'ops', scopes: 'admin' })).secret;
    // Short bounds so the test sees them act; the defaults are 10 s and 30 s.
    gw = await ctx.startGateway({ config: { authMode: 'keys', headersTimeoutMs: 300, bodyTimeoutMs: 800 } });
    await ctx.startWorker({ queues: [queue] });
  });
  after(async () => {
    for (const slow of sockets) slow.socket.destroy();
    await ctx.cleanup();
  });

  it('releases ten sockets trickling headers or bodies (a dashboard login declaring 100 kB among them)', async () => {
    const host = new URL(gw.url).host;
    const bodyHead = (path: string, type: string, length: number, auth = ''): string =>
      `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\n${auth}\r\n`;
    for (let i = 0; i < 4; i++) sockets.push(await slowSocket(gw.url, `POST /api/v1/tasks/demo.echo HTTP/1.1\r\nHost: ${host}\r\n`, 'X-Slow: 1\r\n'));
    for (let i = 0; i < 5; i++) {
      sockets.push(await slowSocket(gw.url, bodyHead('/api/v1/tasks/demo.echo', 'application/json', 100_000, `Authorization: Bearer ${admin}\r\n`), ' '));
    }
    sockets.push(await slowSocket(gw.url, bodyHead('/dashboard/login', 'application/x-www-form-urlencoded', 100_000), 'k'));
    await waitFor('every slow socket to be released', () => sockets.every((s) => s.closed), { timeoutMs: 20_000 });
    // Those still sending their body were told why (a response may already have been written).
    for (const slow of sockets.slice(4, 9)) assert.match(slow.received, /^HTTP\/1\.1 408 /, slow.received.slice(0, 80));
  });

  it('does not cut a held ?wait= answer that lasts longer than both bounds', async () => {
    const res = await http<Task>(`${gw.url}/api/v1/tasks/demo.sleep?wait=20`, { json: { args: [1.5], options: { queue } }, headers: { authorization: `Bearer ${admin}` } });
    assert.equal(res.status, 200);
    assert.equal(res.body.result, 1.5);
  });
});

describe('connection cap', () => {
  let ctx: TestContext;
  let gw: GatewayHandle;
  before(async () => {
    ctx = await TestContext.create();
    gw = await ctx.startGateway({ config: { maxConnections: 2 } });
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('closes connections past GATEWAY_MAX_CONNECTIONS and serves again once below it', async () => {
    const host = new URL(gw.url).host;
    const held = [await slowSocket(gw.url, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n`, ''), await slowSocket(gw.url, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n`, '')];
    const third = await slowSocket(gw.url, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`, '');
    await waitFor('the connection past the cap to be closed', () => third.closed);
    assert.equal(third.received, '', 'closed without an answer');
    for (const slow of held) slow.socket.destroy();
    await waitFor('the gateway to serve again', async () => (await http(`${gw.url}/healthz`).catch(() => undefined))?.status === 200);
  });
});
