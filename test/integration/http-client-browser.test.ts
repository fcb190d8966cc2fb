/**
 * `celerity/http` in Chromium, bundled by esbuild as a page would bundle it, served from one
 * origin and calling a real gateway and worker on another: the CORS configuration the docs give
 * (`CORS_ORIGINS` naming the page's origin) lets it submit and wait; a gateway that does not name
 * the origin is refused, and the client says so as `NETWORK_ERROR`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { TestContext, type GatewayHandle } from '../helpers/harness.js';

const ENTRY = fileURLToPath(new URL('../../shared/src/http/index.js', import.meta.url));

const PAGE = `<!doctype html><meta charset="utf-8"><title>client</title>
<script type="module">import * as http from '/client.js'; window.celerityHttp = http; document.title = 'ready';</script>`;

describe('HTTP client in a browser, across origins', () => {
  let ctx: TestContext;
  let allowed: GatewayHandle;
  let closed: GatewayHandle;
  let pageServer: Server;
  let pageOrigin: string;
  let browser: Browser;
  let queue: string;

  before(async () => {
    const bundle = await build({ entryPoints: [ENTRY], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
    const client = bundle.outputFiles[0]?.text ?? '';
    pageServer = createServer((req, res) => {
      if (req.url === '/client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(client);
      else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    });
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    // localhost here, 127.0.0.1 for the gateways: another origin, as a dev server's page is.
    pageOrigin = `http://localhost:${(pageServer.address() as AddressInfo).port}`;
    ctx = await TestContext.create();
    queue = ctx.queue('browser');
    await ctx.startWorker({ queues: [queue] });
    allowed = await ctx.startGateway({ config: { corsOrigins: [pageOrigin] } });
    closed = await ctx.startGateway();
    browser = await launchBrowser();
    await browser.page.goto(`${pageOrigin}/`);
    await browser.page.waitForFunction('document.title === "ready"');
  });
  after(async () => {
    await browser?.close();
    await ctx?.cleanup();
    await new Promise((resolve) => pageServer?.close(resolve));
  });

  it('submits and waits from a page on an origin CORS_ORIGINS names', async () => {
    const outcome = await browser.page.evaluate(
      async ({ base, queue }) => {
        type Api = { submit: (...a: unknown[]) => Promise<{ id: string; state: string }>; wait: (t: unknown, o: unknown) => Promise<{ state: string; result: unknown }> };
        const http = (globalThis as unknown as { celerityHttp: { createHttpClient: (o: unknown) => Api } }).celerityHttp;
        const api = http.createHttpClient({ baseUrl: base });
        const task = await api.submit('demo.add', [20, 22], {}, { queue, idempotencyKey: 'browser-1' });
        const done = await api.wait(task, { timeoutS: 30 });
        return { submitted: task.state, state: done.state, result: done.result };
      },
      { base: allowed.url, queue },
    );
    assert.deepEqual(outcome, { submitted: 'PENDING', state: 'SUCCESS', result: 42 });
    assert.deepEqual(browser.errors, []);
  });

  it('is refused by a gateway that does not name the page\'s origin: NETWORK_ERROR', async () => {
    const outcome = await browser.page.evaluate(
      async ({ base, queue }) => {
        const http = (globalThis as unknown as { celerityHttp: { createHttpClient: (o: unknown) => { submit: (...a: unknown[]) => Promise<unknown> } } }).celerityHttp;
        try {
          await http.createHttpClient({ baseUrl: base }).submit('demo.add', [1, 2], {}, { queue });
          return 'answered';
        } catch (err) {
          return `${(err as Error).name} ${(err as { code?: string }).code ?? ''}`;
        }
      },
      { base: closed.url, queue },
    );
    assert.equal(outcome, 'CelerityHttpError NETWORK_ERROR');
  });
});
