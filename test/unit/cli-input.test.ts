/** `celerity call` input: what does not parse (or has the wrong shape) is exit 2 naming the flag; what parses goes through unchanged. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseJsonFlag } from '../../shared/src/cli/call-command.js';
import { parseWait } from '../../shared/src/cli/client-session.js';
import { CliError, EXIT } from '../../shared/src/cli/exit-codes.js';
import { formatError } from '../../shared/src/cli/report.js';
import { databaseError } from '../../shared/src/cli/schema-check.js';

function refusal(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CliError, String(err));
    return err;
  }
  assert.fail('expected a CliError');
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe('celerity call --args / --kwargs', () => {
  it('any text that is not JSON is exit 2 naming the flag (property)', () => {
    fc.assert(
      fc.property(fc.string().filter((s) => !isJson(s)), fc.constantFrom('--args' as const, '--kwargs' as const), (text, flag) => {
        const err = refusal(() => parseJsonFlag(flag, text));
        return err.exitCode === EXIT.CONFIG && err.message.startsWith(`${flag} is not valid JSON`);
      }),
    );
  });

  it('any JSON array is the args and any JSON object the kwargs, unchanged; the other shapes are refused (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
        if (Array.isArray(value)) assert.deepEqual(parseJsonFlag('--args', text), JSON.parse(text));
        else assert.equal(refusal(() => parseJsonFlag('--args', text)).exitCode, EXIT.CONFIG);
        if (isObject) assert.deepEqual(parseJsonFlag('--kwargs', text), JSON.parse(text));
        else assert.equal(refusal(() => parseJsonFlag('--kwargs', text)).exitCode, EXIT.CONFIG);
      }),
    );
  });

  it('--wait takes seconds above 0, at most a day; anything else is exit 2', () => {
    assert.equal(parseWait('2.5'), 2500);
    assert.equal(parseWait(undefined), undefined);
    for (const bad of ['0', '-1', 'soon', '', '86401', 'Infinity']) assert.equal(refusal(() => parseWait(bad)).exitCode, EXIT.CONFIG, bad);
  });
});

describe('database errors at start', () => {
  it('never print the password of DATABASE_URL, whatever it is (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9!$&'()*+,;=._~-]{0,30}$/), (tail) => {
        // A prefix found nowhere else in the text, so that finding it means the password leaked.
        const password = `Sx9q-${tail}`;
        const url = `postgres://app:${password}@db.internal:5432/app`;
        const err = databaseError(Object.assign(new Error(`connect ECONNREFUSED for ${url}`), { code: 'ECONNREFUSED' }), url);
        const { text, exitCode } = formatError(err, { verbose: true });
        return exitCode === EXIT.UNREACHABLE && !text.includes(password);
      }),
    );
  });
});
