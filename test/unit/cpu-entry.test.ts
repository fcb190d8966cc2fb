/**
 * The pool thread's entry (worker/src/cpu-entry.ts), called directly: an app import that
 * failed is tried again by the next job, not kept for the thread's life.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import runCpuTask from '../../worker/src/cpu-entry.js';
import type { CpuJob } from '../../worker/src/cpu-job.js';

const ROOT_ENTRY = new URL('../../index.js', import.meta.url).href;

function job(appUrl: string, name: string, args: unknown[]): CpuJob {
  const { port2 } = new MessageChannel();
  return { appUrl, name, args, kwargs: {}, ctx: { id: 'id', name, queue: 'q', retries: 0 }, port: port2 };
}

describe('pool thread entry', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'celerity-cpu-entry-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a failed import of the app is not kept: once the cause is gone, the next job in the thread loads it', async () => {
    const ready = path.join(dir, 'ready');
    const file = path.join(dir, 'flaky-app.mjs');
    // Fails to load until a file it needs exists (a secret mounted late, a config written by a sidecar).
    await writeFile(
      file,
      `import { existsSync } from 'node:fs';
       import { defineTask } from ${JSON.stringify(ROOT_ENTRY)};
       if (!existsSync(${JSON.stringify(ready)})) throw new Error('not ready yet');
       export const double = defineTask({ name: 'flaky.double', cpu: true, run: ([n]) => n * 2 });`,
    );
    const url = pathToFileURL(file).href;
    const first = await runCpuTask(job(url, 'flaky.double', [2]));
    assert.ok(!first.ok);
    assert.match(first.error.message, /not ready yet/);
    await writeFile(ready, '');
    const second = await runCpuTask(job(url, 'flaky.double', [21]));
    assert.deepEqual([second.ok, second.ok && second.json], [true, '42']);
    assert.equal(typeof second.startedAtMs, 'number');
  });
});
