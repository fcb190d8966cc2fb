import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CelerityError } from '../../shared/src/core/errors.js';
import {
  ScopeError,
  formatScopes,
  matchesTaskPattern,
  maySubmitTask,
  parseScopes,
} from '../../shared/src/auth/scopes.js';
import { parseApiKey, type ApiKeyInfo } from '../../shared/src/auth/api-keys.js';
import { assertAdmin, assertMayReadTasks, assertMaySubmit, mayReadTask, type Access } from '../../gateway/src/auth/access.js';

function keyAccess(scopes: string, id = 'aaaaaaaaaaaa'): Access {
  const key: ApiKeyInfo = { id, name: 'k', scopes: parseScopes(scopes), ratePerMinute: null, createdAt: new Date(), revokedAt: null };
  return { kind: 'key', key, via: 'bearer' };
}

function forbidden(fn: () => void): void {
  assert.throws(fn, (err: unknown) => err instanceof CelerityError && err.code === 'FORBIDDEN' && err.status === 403);
}

describe('scopes', () => {
  it('parses admin, tasks:read and patterns, and formats them back', () => {
    const scopes = parseScopes(' demo.*, tasks:read ,admin,demo.*');
    assert.deepEqual(scopes, { admin: true, read: true, submit: ['demo.*'] });
    assert.deepEqual(formatScopes(scopes), ['admin', 'tasks:read', 'demo.*']);
  });

  it('refuses unknown words and an empty list', () => {
    assert.throws(() => parseScopes('tasks:write'), ScopeError);
    assert.throws(() => parseScopes('demo add'), ScopeError);
    assert.throws(() => parseScopes(' , '), ScopeError);
  });

  it('matches task-name patterns: * is any run of characters; everything else is literal', () => {
    assert.ok(matchesTaskPattern('demo.*', 'demo.add'));
    assert.ok(matchesTaskPattern('demo.*', 'demo.x.y'));
    assert.ok(matchesTaskPattern('*', 'anything.at.all'));
    assert.ok(matchesTaskPattern('demo.add', 'demo.add'));
    assert.ok(!matchesTaskPattern('demo.add', 'demo.adder'));
    assert.ok(!matchesTaskPattern('demo.*', 'demoXadd'), 'the dot is literal');
    assert.ok(!matchesTaskPattern('demo.*', 'other.demo.add'));
    assert.ok(!matchesTaskPattern('*.add', 'demo.sub'));
  });

  it('admin may submit anything; others only what their patterns match', () => {
    assert.ok(maySubmitTask(parseScopes('admin'), 'x.y'));
    assert.ok(maySubmitTask(parseScopes('demo.*'), 'demo.fib'));
    assert.ok(!maySubmitTask(parseScopes('tasks:read'), 'demo.fib'));
  });
});

describe('access checks', () => {
  it('open access (AUTH_MODE=none) may do everything', () => {
    const open: Access = { kind: 'open' };
    assertMaySubmit(open, 'any.task');
    assertMayReadTasks(open);
    assertAdmin(open);
    assert.ok(mayReadTask(open, { owner: null }));
  });

  it('a key submits within its patterns and reads only its own tasks, given tasks:read', () => {
    const reader = keyAccess('demo.*,tasks:read', 'aaaaaaaaaaaa');
    assertMaySubmit(reader, 'demo.add');
    forbidden(() => assertMaySubmit(reader, 'billing.charge'));
    forbidden(() => assertAdmin(reader));
    assert.ok(mayReadTask(reader, { owner: 'aaaaaaaaaaaa' }));
    assert.ok(!mayReadTask(reader, { owner: 'bbbbbbbbbbbb' }));
    assert.ok(!mayReadTask(reader, { owner: null }), 'ownerless tasks are for admins');
    const writer = keyAccess('demo.*', 'aaaaaaaaaaaa');
    forbidden(() => assertMayReadTasks(writer));
    assert.ok(!mayReadTask(writer, { owner: 'aaaaaaaaaaaa' }));
  });

  it('admin reads every task', () => {
    const admin = keyAccess('admin');
    assert.ok(mayReadTask(admin, { owner: 'someone-else' }));
    assert.ok(mayReadTask(admin, { owner: null }));
  });
});

describe('API key format', () => {
  it('parses cel_<12 hex>_<43 base64url> and nothing else', () => {
    const secret = 'A'.repeat(40) + '_-z';
    assert.deepEqual(parseApiKey(`cel_0123456789ab_${secret}`), { id: '0123456789ab', secret });
    for (const bad of ['', 'cel_', `cel_0123456789AB_${secret}`, `cel_0123456789ab_${secret}x`, `xel_0123456789ab_${secret}`, `cel_0123456789ab_${secret.slice(1)}`]) {
      assert.equal(parseApiKey(bad), undefined, bad);
    }
  });
});
