/** `celerity topology`: prints the description for the app and the configuration, connecting to nothing. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CELERITY_CLI, DEMO_APP } from '../helpers/demo.js';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { describeTopology, type Topology } from '../../shared/src/broker/topology.js';
import { loadApp } from '../../shared/src/app/load-app.js';
import { parseQueueTypes } from '../../shared/src/config/parse.js';

const run = promisify(execFile);

async function topology(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // An AMQP_URL nothing listens on: the command must not need a broker.
    const { stdout, stderr } = await run(process.execPath, [CELERITY_CLI, 'topology', '--app', DEMO_APP, ...args], {
      env: { ...process.env, AMQP_URL: 'amqp://guest:guest@127.0.0.1:1', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('celerity topology', () => {
  it('--json prints what describeTopology says for the app, -Q and QUEUE_TYPES', async () => {
    const { code, stdout } = await topology(['-Q', 'extra', '--json'], { QUEUE_TYPES: 'extra=quorum' });
    assert.equal(code, 0);
    const printed = JSON.parse(stdout) as Topology;
    const app = await loadApp(DEMO_APP);
    const queues = [...new Set(['extra', ...new Catalogue(app.tasks).defaultQueues()])];
    const queueTypes = new Catalogue(app.tasks).queueTypes(parseQueueTypes('QUEUE_TYPES', 'extra=quorum'));
    assert.deepEqual(printed, describeTopology({ queues, queueTypes }));
    const extra = printed.queues.find((q) => q.name === 'extra');
    assert.equal(extra?.arguments['x-queue-type'], 'quorum');
  });

  it('prints tables for an operator by default', async () => {
    const { code, stdout } = await topology([]);
    assert.equal(code, 0);
    assert.match(stdout, /^exchanges \(\d+\)$/m);
    assert.match(stdout, /^ {2}celeryev +topic +durable$/m);
    assert.match(stdout, /^ {2}demo\.dead +dead-letter /m);
  });

  it('an invalid queue name stops it with a message naming the flag', async () => {
    const { code, stderr } = await topology(['-Q', 'amq.bad']);
    assert.equal(code, 2);
    assert.match(stderr, /--queues.*amq\.bad/);
  });

  it('has --help', async () => {
    const { code, stdout } = await run(process.execPath, [CELERITY_CLI, 'topology', '--help']).then((r) => ({ code: 0, ...r }));
    assert.equal(code, 0);
    for (const flag of ['--app', '--queues', '--json']) assert.ok(stdout.includes(flag), flag);
  });
});
