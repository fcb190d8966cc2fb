/**
 * The HTTP floor (`bench/scenarios/http-floor.ts`): the least a gateway can spend per request
 * on HTTP alone. It answers `POST /api/v1/tasks/:name` with a 202 and a JSON body the size of
 * Celerity's, doing nothing else: `bare` on node:http (read the body, JSON.parse, write JSON),
 * `express` through Express 5 with express.json(), as the gateway's HTTP layer is built. The
 * difference between them and the gateway's own CPU per request says what the HTTP layer costs.
 *
 * `express-hold`: the minimal Express app that holds every request it gets and never answers (its
 * `done` count is the requests held), for the memory scenario's RSS per held request.
 *
 * Usage: node dist/bench/peers/http-floor-server.js bare|express|express-raw|express-hold
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { serveBench } from '../lib/child.js';

const mode = process.argv[2];
let done = 0;

function answer(name: string, body: unknown): string {
  const args = (body as { args?: unknown[] } | null)?.args ?? [];
  return JSON.stringify({ id: randomUUID(), name, state: 'PENDING', args, kwargs: {}, result: null, error: null, retries: 0, createdAt: new Date().toISOString() });
}

function bare(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const text = answer((req.url ?? '').split('?')[0]!.slice('/api/v1/tasks/'.length), body);
    res.writeHead(202, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
    done++;
  });
}

function expressApp(parser: boolean): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (parser) app.use('/api', express.json({ limit: 1024 * 1024 }));
  else {
    app.use('/api', (req, _res, next) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        req.body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        next();
      });
    });
  }
  app.post('/api/v1/tasks/:name', (req, res) => {
    res.status(202).type('application/json').send(answer(req.params.name, req.body));
    done++;
  });
  return app;
}

/** Express + express.json(), holding each request: the least a framework's held request costs. */
function holdingApp(): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use('/api', express.json({ limit: 1024 * 1024 }));
  app.post('/api/v1/tasks/:name', () => {
    done++;
  });
  return app;
}

if (mode !== 'bare' && mode !== 'express' && mode !== 'express-raw' && mode !== 'express-hold') {
  process.stderr.write('usage: http-floor-server.js bare|express|express-raw|express-hold\n');
  process.exit(2);
}
const server = createServer(mode === 'bare' ? bare : mode === 'express-hold' ? holdingApp() : expressApp(mode === 'express'));
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`port ${typeof address === 'object' && address ? address.port : 0}\n`);
  serveBench(() => done, () => new Promise((resolve) => server.close(resolve)));
});
