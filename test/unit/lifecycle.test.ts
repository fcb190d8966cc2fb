/** The shutdown-step helper every close() uses, and the one repr of the message headers and events. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { REPR_MAX, repr } from '../../shared/src/core/repr.js';
import { shutdownSteps } from '../../shared/src/core/lifecycle.js';

describe('shutdownSteps', () => {
  it('runs every step in order, logs and keeps each failure, and throws them together', async () => {
    const logged: string[] = [];
    const steps = shutdownSteps({ error: (message: string) => logged.push(message) }, 'test shutdown');
    const ran: string[] = [];
    await steps.run('one', () => Promise.reject(new Error('first')));
    await steps.run('two', () => {
      ran.push('two');
      return Promise.resolve();
    });
    await steps.run('three', () => Promise.reject(new Error('third')));
    assert.deepEqual(ran, ['two']);
    assert.deepEqual(logged, ['test shutdown: one failed', 'test shutdown: three failed']);
    assert.equal(steps.failures.length, 2);
    assert.throws(
      () => steps.throwIfFailed('closing the test'),
      (err: unknown) => err instanceof AggregateError && err.errors.length === 2 && err.message === '2 step(s) of closing the test failed',
    );
  });

  it('throws nothing when every step succeeded', async () => {
    const steps = shutdownSteps({ error: () => assert.fail('nothing to log') }, 'test');
    await steps.run('fine', () => Promise.resolve());
    steps.throwIfFailed('closing');
  });
});

describe('repr', () => {
  it('is JSON, with nothing as null and what JSON cannot hold marked', () => {
    assert.equal(repr([1, 'a']), '[1,"a"]');
    assert.equal(repr(undefined), 'null');
    assert.equal(repr(10n), '<unserialisable>');
  });

  it(`cuts at ${REPR_MAX} characters with a trailing ...`, () => {
    const text = repr('x'.repeat(5000));
    assert.equal(text.length, REPR_MAX);
    assert.ok(text.endsWith('...'));
  });
});
