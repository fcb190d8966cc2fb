/** The gateway process on a public address: refused without auth, warned with AUTH_DISABLED. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http } from '../helpers/harness.js';
import { CELERITY_CLI, DEMO_APP } from '../helpers/demo.js';


interface Started {
  output: string;
  url: string;
  stop: () => Promise<number | null>;
}

/** Starts the gateway process; resolves once it listens (or rejects with what it printed). */
async function startGateway(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [CELERITY_CLI, 'gateway', '--app', DEMO_APP], {
    env: { ...process.env, AMQP_URL: TEST_AMQP_URL, DATABASE_URL: TEST_DATABASE_URL, GATEWAY_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${output}`)), 60_000);
    const check = (): void => {
      const match = /gateway listening on http:\/\/[^:]+:(\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', check);
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}: ${output}`));
    });
  });
  return {
    get output() {
      return output;
    },
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      const [code] = await exited;
      return code;
    },
  };
}

describe('gateway process: public addresses', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await TestContext.create();
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('starts on 0.0.0.0 with AUTH_DISABLED=true, warning at start that it is open', async () => {
    const gw = await startGateway({ GATEWAY_HOST: '0.0.0.0', AUTH_DISABLED: 'true', DATABASE_SCHEMA: ctx.schema });
    try {
      assert.match(gw.output, /AUTH_DISABLED=true: the gateway accepts requests without an API key/);
      assert.equal((await http(`${gw.url}/healthz`)).status, 200);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });

  it('starts on 0.0.0.0 with AUTH_MODE=keys, warns when no key exists, and requires a key', async () => {
    const gw = await startGateway({ GATEWAY_HOST: '0.0.0.0', AUTH_MODE: 'keys', DATABASE_SCHEMA: ctx.schema });
    try {
      assert.match(gw.output, /no API key exists yet/);
      assert.doesNotMatch(gw.output, /AUTH_DISABLED=true/);
      const res = await http<{ error: { code: string } }>(`${gw.url}/api/v1/tasks/demo.add`, { json: { args: [1, 2] } });
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'UNAUTHENTICATED');
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });

  it('refuses 0.0.0.0 without authentication before connecting to anything', async () => {
    await assert.rejects(startGateway({ GATEWAY_HOST: '0.0.0.0', DATABASE_SCHEMA: ctx.schema }), /exited with 2: .*GATEWAY_HOST .*AUTH_MODE=keys/s);
  });
});
