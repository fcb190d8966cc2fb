import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { fib, fibTask } from '../../examples/demo/tasks.js';

describe('fib', () => {
  it('follows F(0) = 0, F(1) = 1', () => {
    assert.equal(fib(0), 0);
    assert.equal(fib(1), 1);
    assert.deepEqual(
      Array.from({ length: 11 }, (_, n) => fib(n)),
      [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55],
    );
  });

  it('F(25) = 75025', () => {
    assert.equal(fib(25), 75025);
  });

  it('is what the thread pool runs for demo.fib', async () => {
    assert.equal(fibTask.name, 'demo.fib');
    assert.equal(fibTask.cpu, true);
    const ctx = { id: 'x', name: 'demo.fib', queue: 'demo', retries: 0, signal: new AbortController().signal, logger: createSilentLogger(), progress: () => undefined, stream: () => undefined, backoff: () => assert.fail('no backoff') };
    assert.equal(await fibTask.run?.([20], {}, ctx), 6765);
  });
});
