/**
 * `celerity keys revoke` against the real database: an id, or a name only with `--name`, and
 * never more keys than it reports (a key may be named with 12 hex digits, an id's shape).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { TEST_DATABASE_URL, TestContext } from '../helpers/harness.js';
import { CELERITY_CLI } from '../helpers/demo.js';

const run = promisify(execFile);

async function keysCli(schema: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CELERITY_CLI, 'keys', ...args], {
      env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('celerity keys revoke', () => {
  let ctx: TestContext;
  let keys: ApiKeyStore;
  before(async () => {
    ctx = await TestContext.create();
    keys = new ApiKeyStore(ctx.pool);
  });
  after(async () => {
    await ctx.cleanup();
  });

  const active = async (): Promise<string[]> => (await keys.list()).filter((k) => k.revokedAt === null).map((k) => k.name).sort();

  it('revokes by id only the key with that id, though another key is named with it', async () => {
    const victim = await keys.create({ name: 'victim', scopes: 'demo.*' });
    const lookalike = await keys.create({ name: victim.id, scopes: 'demo.*' });
    const res = await keysCli(ctx.schema, ['revoke', victim.id]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`Revoked API key "victim" \\(id ${victim.id}\\)`));
    assert.deepEqual(await active(), [victim.id], 'the key named like the id is still in force');
    assert.ok(await keys.verify(lookalike.secret));
    const byName = await keysCli(ctx.schema, ['revoke', '--name', victim.id]);
    assert.equal(byName.code, 0, byName.stderr);
    assert.match(byName.stdout, new RegExp(`Revoked API key "${victim.id}" \\(id ${lookalike.id}\\)`));
    assert.deepEqual(await active(), []);
  });

  it('takes a name only with --name, and refuses an id and a name together', async () => {
    await keys.create({ name: 'ops', scopes: 'admin' });
    const bare = await keysCli(ctx.schema, ['revoke', 'ops']);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /not a key id.*--name ops/s);
    const both = await keysCli(ctx.schema, ['revoke', '000000000000', '--name', 'ops']);
    assert.equal(both.code, 2);
    assert.deepEqual(await active(), ['ops'], 'nothing was revoked');
  });
});
