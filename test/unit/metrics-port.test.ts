/**
 * Several workers on one host: the metrics server's port taken → the next free one when the
 * port was the default (nextFreePorts), an error when it was given.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createRegistry } from '../../shared/src/core/metrics.js';
import { WorkerMetrics } from '../../worker/src/metrics.js';
import { serverPort, startMetricsServer } from '../../worker/src/metrics-server.js';

const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

/** Holds a free port (as another worker would) and returns it. */
async function occupy(port = 0): Promise<number> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

function start(port: number, nextFreePorts?: number): Promise<Server> {
  const { registry } = new WorkerMetrics(createRegistry('worker', false));
  return startMetricsServer({
    registry,
    health: () => ({ ok: true, state: 'RUNNING', inFlight: 0 }),
    readiness: { broker: () => true, consuming: () => true, database: () => Promise.resolve() },
    port,
    host: '127.0.0.1',
    ...(nextFreePorts !== undefined ? { nextFreePorts } : {}),
  });
}

describe('worker metrics port on a shared host', () => {
  it('a taken port is an error without nextFreePorts (a port given explicitly)', async () => {
    const taken = await occupy();
    await assert.rejects(start(taken), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
  });

  it('a taken port moves to the next free one with nextFreePorts, and the server answers there', async () => {
    const taken = await occupy();
    const server = await start(taken, 5);
    servers.push(server);
    const port = serverPort(server);
    // The next port may be taken by something else on this machine: then it moves further.
    assert.ok(port > taken && port <= taken + 5, `moved to ${port}`);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 200);
  });

  it('gives up after nextFreePorts taken ports, with the listen error', async () => {
    const first = await occupy();
    // Taken by this test, or already by something else: taken either way.
    await occupy(first + 1).catch(() => undefined);
    await assert.rejects(start(first, 1), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
  });
});
