/** The per-hop trace stamps (shared/src/core/trace.ts): nothing written when off, NDJSON lines when on, flushed on stop. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  flushTrace,
  stamp,
  stampEach,
  startTrace,
  stopTrace,
  traceNow,
  tracing,
  type TraceLine,
} from '../../shared/src/core/trace.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'celerity-trace-'));
  try {
    fn(dir);
  } finally {
    stopTrace();
    rmSync(dir, { recursive: true, force: true });
  }
}

function lines(file: string): TraceLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TraceLine);
}

describe('trace stamps', () => {
  it('records nothing and writes no file when not started', () => {
    withDir((dir) => {
      const file = join(dir, 'off.ndjson');
      assert.equal(tracing(), false);
      stamp('t1', 'publish');
      stampEach([{ id: 't2' }], 'validated');
      flushTrace();
      // Started afterwards: what was stamped while off must not appear.
      startTrace(file);
      stopTrace();
      assert.equal(existsSync(file), false);
    });
  });

  it('writes one line per stamp with id, hop, t and pid once flushed', () => {
    withDir((dir) => {
      const file = join(dir, 'on.ndjson');
      startTrace(file);
      assert.equal(tracing(), true);
      const before = traceNow();
      const arrived = before - 5;
      stamp('a', 'http.in', arrived);
      stamp('a', 'publish');
      stampEach([{ id: 'b' }, { id: 'c' }], 'http.out');
      flushTrace();
      const written = lines(file);
      assert.deepEqual(
        written.map((l) => [l.id, l.hop]),
        [
          ['a', 'http.in'],
          ['a', 'publish'],
          ['b', 'http.out'],
          ['c', 'http.out'],
        ],
      );
      for (const line of written) {
        assert.equal(line.pid, process.pid);
        assert.equal(typeof line.t, 'number');
      }
      assert.ok(Math.abs(written[0]!.t - arrived) < 0.001, 'a given time is written as given (to the microsecond)');
      assert.ok(written[1]!.t >= before - 0.001, 'a stamp without a time takes the current one');
      assert.equal(written[2]!.t, written[3]!.t, 'a batch is stamped at one time');
    });
  });

  it('flushes what is buffered when stopped, and records nothing after', () => {
    withDir((dir) => {
      const file = join(dir, 'stop.ndjson');
      startTrace(file);
      stamp('x', 'delivered');
      stamp('x', 'acked');
      assert.equal(existsSync(file), false, 'buffered in memory until a flush');
      stopTrace();
      assert.deepEqual(lines(file).map((l) => l.hop), ['delivered', 'acked']);
      stamp('y', 'delivered');
      stopTrace();
      flushTrace();
      assert.equal(lines(file).length, 2);
    });
  });

  it('switches files when started again, after flushing the first', () => {
    withDir((dir) => {
      const first = join(dir, 'first.ndjson');
      const second = join(dir, 'second.ndjson');
      startTrace(first);
      stamp('p', 'submit');
      startTrace(second);
      stamp('p', 'result');
      stopTrace();
      assert.deepEqual(lines(first).map((l) => l.hop), ['submit']);
      assert.deepEqual(lines(second).map((l) => l.hop), ['result']);
    });
  });
});
