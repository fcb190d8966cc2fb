/**
 * The HTTP client's event stream and revoke against a small local HTTP server standing in for
 * the gateway's routes: Server-Sent Events parsed as the standard says (multi-line data, comments
 * as heartbeats, CRLF, lines cut across chunks), a stream cut mid-way reopened with
 * `Last-Event-ID` so nothing is missed or repeated, errors typed, and the revoke request's shape.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CelerityHttpError, createHttpClient, type TaskEvent } from '../../shared/src/http/index.js';

const EVENTS = [1, 2, 3, 4, 5].map((n) => `id: ${n}\r\nevent: ${n === 5 ? 'state' : 'progress'}\r\ndata: {"n": ${n},\r\ndata: "final": ${n === 5}}\r\n\r\n`);

describe('HTTP client: events and revoke', () => {
  let server: Server;
  let base: string;
  const seen: IncomingMessage['headers'][] = [];
  let revokeBody = '';
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/api/v1/tasks/t1/events') {
        seen.push(req.headers);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const after = Number(req.headers['last-event-id'] ?? 0);
        const rest = EVENTS.slice(after);
        if (seen.length === 1) {
          // First connection: a heartbeat, two events (the second cut across writes), then the connection drops.
          res.write(': heartbeat\n\nretry: 10\n\n');
          res.write(rest[0] ?? '');
          const second = rest[1] ?? '';
          res.write(second.slice(0, 9));
          setTimeout(() => {
            res.write(second.slice(9));
            setTimeout(() => res.socket?.destroy(), 20);
          }, 20);
          return;
        }
        res.end(rest.join(''));
        return;
      }
      if (req.url === '/api/v1/tasks/t1/revoke' && req.method === 'POST') {
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (revokeBody += chunk));
        req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 't1', name: 'x', queue: 'q', state: 'REVOKED' })));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'TASK_NOT_FOUND', message: 'No task' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reads every event once, in order, across a cut stream resumed with Last-Event-ID', async () => {
    const api = createHttpClient({ baseUrl: `${base}/`, apiKey: 'secret-key' });
    const events: TaskEvent<{ n: number; final: boolean }>[] = [];
    for await (const event of api.events<{ n: number; final: boolean }>('t1')) events.push(event);
    assert.deepEqual(events.map((e) => e.data.n), [1, 2, 3, 4, 5]);
    assert.deepEqual(events.map((e) => e.id), ['1', '2', '3', '4', '5']);
    assert.deepEqual(events.map((e) => e.event), ['progress', 'progress', 'progress', 'progress', 'state']);
    assert.equal(events.at(-1)?.data.final, true);
    assert.equal(seen.length, 2);
    assert.equal(seen[0]?.['last-event-id'], undefined);
    assert.equal(seen[1]?.['last-event-id'], '2');
    assert.equal(seen[0]?.authorization, 'Bearer secret-key');
    assert.equal(seen[0]?.accept, 'text/event-stream');
  });

  it('starts after lastEventId when given, and rejects an unknown task with its code', async () => {
    seen.length = 0;
    seen.push({}); // not the first connection: the server sends the rest and ends
    const api = createHttpClient({ baseUrl: base });
    const ids: (string | undefined)[] = [];
    for await (const event of api.events('t1', { lastEventId: '3' })) ids.push(event.id);
    assert.deepEqual(ids, ['4', '5']);
    await assert.rejects(
      async () => {
        for await (const _ of api.events('nope')) assert.fail('no event expected');
      },
      (err: unknown) => err instanceof CelerityHttpError && err.code === 'TASK_NOT_FOUND' && err.status === 404,
    );
  });

  it('revokes with POST /api/v1/tasks/{id}/revoke and {"terminate"}', async () => {
    const api = createHttpClient({ baseUrl: base });
    const task = await api.revoke('t1', { terminate: true });
    assert.equal(task.state, 'REVOKED');
    assert.deepEqual(JSON.parse(revokeBody), { terminate: true });
  });
});
