/** The worker's `/metrics` and `/healthz` (plain node:http: two routes need no framework). */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export async function startMetricsServer(
  registry: Registry,
  health: () => { ok: boolean; state: string; inFlight: number },
  port: number,
  host: string,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(`metrics failed: ${(err as Error).message}`);
        },
      );
      return;
    }
    if (req.method === 'GET' && req.url === '/healthz') {
      const h = health();
      res.writeHead(h.ok ? 200 : 503, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ status: h.ok ? 'ok' : 'not ok', state: h.state, inFlight: h.inFlight }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'ROUTE_NOT_FOUND', message: `No route for ${req.method} ${req.url}` } }));
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

export function serverPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}
