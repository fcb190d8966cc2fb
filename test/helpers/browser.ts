/**
 * Debian's Chromium driven by playwright-core, for the dashboard tests: headless, a fresh
 * profile per browser, and the flags this machine's closed network needs (without the
 * background-networking ones Chromium keeps trying to reach Google and gets refused).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Browser {
  context: BrowserContext;
  /** The first page, with a 30 s default timeout. */
  page: Page;
  /** Errors thrown in the page so far. */
  errors: string[];
  /** Closes the browser and deletes its profile. Safe to call twice. */
  close(): Promise<void>;
}

export async function launchBrowser(options: { viewport?: { width: number; height: number } } = {}): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'celerity-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      ...(options.viewport ? { viewport: options.viewport } : {}),
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.setDefaultTimeout(30_000);
  let closed: Promise<void> | undefined;
  return {
    context,
    page,
    errors,
    close: () => {
      closed ??= context
        .close()
        .catch(() => undefined)
        .then(() => rm(profile, { recursive: true, force: true }));
      return closed;
    },
  };
}
