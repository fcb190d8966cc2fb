/** The error handler never tells a caller more than a code and a fixed or authored message. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { CelerityError } from '../../shared/src/core/errors.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { errorHandler } from '../../gateway/src/http-errors.js';

describe('errorHandler', () => {
  let server: Server;
  let base: string;
  before(async () => {
    const app = express();
    app.get('/boom', () => {
      throw new Error('connect ECONNREFUSED postgres://celerity:hunter2@db.internal/celerity at /srv/app/store.js:42');
    });
    app.get('/pg', () => {
      throw Object.assign(new Error('relation "tasks" does not exist'), { code: '42P01', detail: 'internal detail' });
    });
    app.get('/db-down', () => {
      throw new CelerityError('DATABASE_UNAVAILABLE', 'The database is unavailable', { cause: new Error('password authentication failed for user "celerity"'), retryAfterS: 2 });
    });
    app.get('/items/:id', (req, res) => {
      res.json({ id: req.params.id });
    });
    app.use(errorHandler(createSilentLogger()));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  for (const path of ['/boom', '/pg']) {
    it(`a 500 from ${path} says "Internal error" with code INTERNAL, and nothing else`, async () => {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 500);
      const text = await res.text();
      assert.deepEqual(JSON.parse(text), { error: { code: 'INTERNAL', message: 'Internal error' } });
    });
  }

  it('a coded 503 keeps its own message and Retry-After, not its cause', async () => {
    const res = await fetch(`${base}/db-down`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '2');
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), { error: { code: 'DATABASE_UNAVAILABLE', message: 'The database is unavailable' } });
  });

  it("Express's own client errors (a path that is not valid percent-encoding) are 400 INVALID_REQUEST, without echoing input", async () => {
    const res = await fetch(`${base}/items/%E0%A4%A`);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: { code: 'INVALID_REQUEST', message: 'The request is malformed' } });
  });
});
