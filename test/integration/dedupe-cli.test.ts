/**
 * `celerity call --dedupe-key K --dedupe-mode M [--dedupe-window S]`: a singleton called twice
 * prints the same task id while the task is unfinished (no worker consumes its queue); flags
 * that do not go together, and a mode the submit refuses, end with exit 2 and say why.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CELERITY_CLI, DEMO_APP } from '../helpers/demo.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext } from '../helpers/harness.js';

const run = promisify(execFile);

describe('celerity call --dedupe-*', () => {
  let ctx: TestContext;
  let queue: string;
  before(async () => {
    ctx = await TestContext.create();
    queue = ctx.queue('dedupecli');
  });
  after(async () => {
    await ctx.cleanup();
  });

  const call = async (...flags: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const env = { ...process.env, AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: ctx.schema, LOG_LEVEL: 'error' };
    try {
      const { stdout, stderr } = await run(process.execPath, [CELERITY_CLI, 'call', 'demo.add', '--args', '[1, 2]', '--queue', queue, '--app', DEMO_APP, ...flags], { env, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('a singleton key called twice prints one task id; another key prints another', async () => {
    const first = await call('--dedupe-key', 'nightly', '--dedupe-mode', 'singleton');
    assert.equal(first.code, 0, first.stderr);
    const id = first.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    const again = await call('--dedupe-key', 'nightly', '--dedupe-mode', 'singleton');
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), id);
    const other = await call('--dedupe-key', 'weekly', '--dedupe-mode', 'singleton');
    assert.notEqual(other.stdout.trim(), id);
  });

  it('a throttle takes its window from --dedupe-window', async () => {
    const first = await call('--dedupe-key', 't1', '--dedupe-mode', 'throttle', '--dedupe-window', '600');
    const again = await call('--dedupe-key', 't1', '--dedupe-mode', 'throttle', '--dedupe-window', '600');
    assert.deepEqual([first.code, again.code], [0, 0]);
    assert.equal(again.stdout.trim(), first.stdout.trim());
  });

  it('flags that do not go together, or values the submit refuses, exit 2 with the reason', async () => {
    const alone = await call('--dedupe-key', 'k');
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--dedupe-key and --dedupe-mode go together/);
    const window = await call('--dedupe-key', 'k', '--dedupe-mode', 'throttle', '--dedupe-window', 'soon');
    assert.equal(window.code, 2);
    assert.match(window.stderr, /--dedupe-window must be a number of seconds/);
    const mode = await call('--dedupe-key', 'k', '--dedupe-mode', 'sometimes');
    assert.equal(mode.code, 2);
    assert.match(mode.stderr, /INVALID_DEDUPE|dedupe\.mode/);
    const missing = await call('--dedupe-key', 'k', '--dedupe-mode', 'debounce');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /windowS is required/);
  });

  it('--help lists the flags', async () => {
    const { stdout } = await run(process.execPath, [CELERITY_CLI, 'call', '--help']);
    for (const flag of ['--dedupe-key', '--dedupe-mode', '--dedupe-window']) assert.ok(stdout.includes(flag), flag);
  });
});
