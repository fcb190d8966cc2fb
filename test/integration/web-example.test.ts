/**
 * The example page (examples/web) in Chromium: served by a tiny static server on an origin of
 * its own (the gateway allows it by CORS), it submits demo.progress, its bar moves with the
 * task's progress events, and it shows the result. A screenshot is saved under test-artifacts/.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve } from 'node:path';
import { TestContext } from '../helpers/harness.js';
import { launchBrowser, type Browser } from '../helpers/browser.js';

const ARTIFACTS = resolve(process.cwd(), 'test-artifacts');
/** The page's folder in the repository (the tests run from dist/). */
const PAGE_DIR = resolve(process.cwd(), 'examples/web');
// The page imports the compiled typed client from ./celerity-http/ (examples/web/client.js).
const CLIENT_DIR = resolve(process.cwd(), 'dist/shared/src/http');
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

/** Serves examples/web's files and, under celerity-http/, the compiled typed client; nothing else. */
async function staticServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/+/, '') || 'index.html';
    const client = /^celerity-http\/([a-z-]+\.js)$/.exec(path);
    const name = client ? client[1] ?? '' : path;
    if (!/^[a-z-]+\.(html|js|css)$/.test(name)) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(client ? CLIENT_DIR : PAGE_DIR, name)).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(name)] ?? 'text/plain' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('the example web page', () => {
  let ctx: TestContext;
  let browser: Browser | undefined;
  let pages: Server | undefined;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await browser?.close();
    pages?.close();
    await ctx.cleanup();
  });

  it('submits demo.progress, moves its bar with the progress events and shows the result', async (t) => {
    const queue = ctx.queue('web');
    await ctx.startWorker({ queues: [queue] });
    const site = await staticServer();
    pages = site.server;
    const gw = await ctx.startGateway({ config: { corsOrigins: [site.origin] } });
    browser = await launchBrowser({ viewport: { width: 900, height: 700 } });
    const { page, errors } = browser;
    await page.goto(`${site.origin}/index.html?gateway=${encodeURIComponent(gw.url)}&queue=${encodeURIComponent(queue)}`);
    await page.fill('#steps', '8');
    await page.fill('#step-ms', '250');
    await page.click('#run button[type="submit"]');

    // The bar moves: a fraction strictly between 0 and 1 shows while the task runs.
    await page.waitForFunction(`(() => { const f = Number(document.querySelector('#bar').dataset.fraction); return f > 0 && f < 1; })()`);
    await page.locator('#state[data-state="SUCCESS"]').waitFor();
    assert.equal(await page.textContent('#result'), '{"steps":8}');
    assert.equal(await page.getAttribute('#bar', 'data-fraction'), '1');
    assert.match((await page.textContent('#output')) ?? '', /step 8 done/);

    await mkdir(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'web-example.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`example page screenshot saved to ${shot}`);
    assert.deepEqual(errors, [], 'no errors in the page');
  });
});
