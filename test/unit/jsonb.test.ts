import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CelerityError, truncateText } from '../../shared/src/core/errors.js';
import {
  MAX_JSON_DEPTH,
  assertStorableArguments,
  findUnstorable,
  toStorableText,
} from '../../shared/src/core/jsonb.js';

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe('values PostgreSQL jsonb refuses', () => {
  it('finds U+0000 and lone surrogates in strings and keys, with the path', () => {
    assert.equal(findUnstorable(['a\u0000b'], 'args')?.path, 'args[0]');
    assert.equal(findUnstorable(['ok', { x: ['\ud800'] }], 'args')?.path, 'args[1].x[0]');
    assert.equal(findUnstorable({ 'a\u0000': 1 }, 'kwargs')?.path, 'kwargs["a\\u0000"]');
    assert.equal(findUnstorable({ 'b c': '\udc00x' }, 'kwargs')?.path, 'kwargs["b c"]');
    assert.match(findUnstorable('x\u0000')?.reason ?? '', /U\+0000/);
    assert.match(findUnstorable('\ud83d')?.reason ?? '', /surrogate/);
  });

  it('accepts what jsonb stores: pairs, other control characters, __proto__ keys, shared subtrees', () => {
    const shared = { a: 1 };
    const protoKey = JSON.parse('{"__proto__": {"x": "\\u0001"}}') as unknown;
    assert.equal(findUnstorable(['😀', '\u0001\u001f', '\uffff', protoKey, [shared, shared], new Date(0), undefined, null, 1e308]), undefined);
    assert.equal(findUnstorable(nested(MAX_JSON_DEPTH - 1)), undefined);
  });

  it('finds what JSON cannot carry: BigInt, cycles, functions, symbols, too deep', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = { back: cycle };
    assert.deepEqual(findUnstorable({ n: 10n }, 'result'), { path: 'result.n', reason: 'is a BigInt, which JSON cannot carry', kind: 'json' });
    assert.equal(findUnstorable(cycle, 'result')?.path, 'result.self.back');
    assert.equal(findUnstorable([() => 1])?.kind, 'json');
    assert.equal(findUnstorable({ s: Symbol('x') })?.kind, 'json');
    assert.equal(findUnstorable(nested(MAX_JSON_DEPTH + 5))?.kind, 'jsonb');
  });

  it('walks 100k levels without a stack overflow', () => {
    assert.equal(findUnstorable(nested(100_000))?.kind, 'jsonb');
  });

  it('assertStorableArguments throws INVALID_ARGUMENTS naming the field', () => {
    assert.throws(
      () => assertStorableArguments([1], { note: 'a\u0000b' }),
      (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_ARGUMENTS' && err.message.startsWith('kwargs.note '),
    );
  });

  it('toStorableText replaces what jsonb refuses; truncateText bounds and marks', () => {
    assert.equal(toStorableText('a\u0000b\ud800c\ud83d\ude00'), 'a\ufffdb\ufffdc\ud83d\ude00');
    const long = 'x'.repeat(200_000);
    const cut = truncateText(long);
    assert.ok(cut.length <= 8192);
    assert.match(cut, /more characters cut\]$/);
    assert.equal(truncateText('short'), 'short');
  });
});
