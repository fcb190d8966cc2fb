import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BatchWriter } from '../../shared/src/store/batch-writer.js';
import { deferred, track, turns, waitFor, type Deferred } from './support.js';

interface Row {
  key: string;
  value: number;
}

/** A flush whose every call waits until the test settles it. */
class FakeFlush {
  readonly calls: { rows: Row[]; done: Deferred<void> }[] = [];
  inFlight = 0;
  maxSeenInFlight = 0;

  readonly flush = (rows: Row[]): Promise<void> => {
    const done = deferred<void>();
    this.calls.push({ rows: [...rows], done });
    this.inFlight++;
    this.maxSeenInFlight = Math.max(this.maxSeenInFlight, this.inFlight);
    return done.promise.finally(() => {
      this.inFlight--;
    });
  };

  call(i: number): { rows: Row[]; done: Deferred<void> } {
    const c = this.calls[i];
    assert.ok(c, `flush call #${i} happened (${this.calls.length} so far)`);
    return c;
  }

  keys(i: number): string[] {
    return this.call(i).rows.map((r) => r.key);
  }
}

function writer(fake: FakeFlush, options: { maxBatch?: number; maxInFlight?: number } = {}): BatchWriter<Row> {
  return new BatchWriter<Row>({
    key: (r) => r.key,
    // Keeps the highest value, as the store keeps the highest state order.
    merge: (older, newer) => (newer.value >= older.value ? newer : older),
    flush: fake.flush,
    ...options,
  });
}

describe('BatchWriter', () => {
  it('writes the rows of one tick in one flush, and resolves each writer after it', async () => {
    const fake = new FakeFlush();
    const w = writer(fake);
    const writes = [w.write({ key: 'a', value: 1 }), w.write({ key: 'b', value: 2 }), w.write({ key: 'c', value: 3 })];
    const tracked = writes.map(track);
    assert.equal(fake.calls.length, 0, 'no flush before the tick ends');
    assert.equal(w.pending, 3);
    await waitFor(() => fake.calls.length === 1, 'the flush');
    await turns();
    assert.equal(fake.calls.length, 1);
    assert.deepEqual(fake.keys(0), ['a', 'b', 'c']);
    assert.equal(w.pending, 0);
    assert.ok(tracked.every((t) => t.state.status === 'pending'), 'writers wait for the flush');
    fake.call(0).done.resolve();
    await Promise.all(writes);
  });

  it('merges rows with the same key into one row, resolving every writer', async () => {
    const fake = new FakeFlush();
    const w = writer(fake);
    const writes = [
      w.write({ key: 'a', value: 1 }),
      w.write({ key: 'b', value: 1 }),
      w.write({ key: 'a', value: 5 }),
      w.write({ key: 'a', value: 3 }),
    ];
    assert.equal(w.pending, 2);
    await waitFor(() => fake.calls.length === 1, 'the flush');
    assert.deepEqual(fake.call(0).rows, [
      { key: 'a', value: 5 },
      { key: 'b', value: 1 },
    ]);
    fake.call(0).done.resolve();
    await Promise.all(writes);
  });

  it('puts at most maxBatch rows in one flush', async () => {
    const fake = new FakeFlush();
    const w = writer(fake, { maxBatch: 2, maxInFlight: 10 });
    const writes = ['a', 'b', 'c', 'd', 'e'].map((key, value) => w.write({ key, value }));
    await waitFor(() => fake.calls.length === 3, 'three flushes');
    await turns();
    assert.equal(fake.calls.length, 3);
    assert.deepEqual(
      fake.calls.map((c) => c.rows.length),
      [2, 2, 1],
    );
    assert.deepEqual(fake.calls.flatMap((c) => c.rows.map((r) => r.key)), ['a', 'b', 'c', 'd', 'e']);
    for (const c of fake.calls) c.done.resolve();
    await Promise.all(writes);
  });

  it('runs at most maxInFlight flushes at once; later rows wait and are gathered', async () => {
    const fake = new FakeFlush();
    const w = writer(fake, { maxBatch: 1, maxInFlight: 2 });
    const first = ['a', 'b', 'c', 'd'].map((key) => w.write({ key, value: 0 }));
    await waitFor(() => fake.calls.length === 2, 'two flushes');
    await turns(5);
    assert.equal(fake.calls.length, 2, 'no third flush while two are in flight');
    assert.equal(fake.inFlight, 2);
    assert.equal(w.pending, 2);

    fake.call(0).done.resolve();
    await waitFor(() => fake.calls.length === 3, 'the third flush');
    await turns(5);
    assert.equal(fake.calls.length, 3, 'one slot freed, one more flush');

    fake.call(1).done.resolve();
    fake.call(2).done.resolve();
    await waitFor(() => fake.calls.length === 4, 'the fourth flush');
    fake.call(3).done.resolve();
    await Promise.all(first);
    assert.deepEqual(fake.calls.flatMap((c) => c.rows.map((r) => r.key)), ['a', 'b', 'c', 'd']);
    assert.ok(fake.maxSeenInFlight <= 2, `saw ${fake.maxSeenInFlight} flushes at once`);
  });

  it('gathers rows written during a flush into the next one', async () => {
    const fake = new FakeFlush();
    const w = writer(fake, { maxInFlight: 1 });
    const a = w.write({ key: 'a', value: 1 });
    await waitFor(() => fake.calls.length === 1, 'the first flush');
    const later = [w.write({ key: 'b', value: 1 }), w.write({ key: 'a', value: 2 }), w.write({ key: 'c', value: 1 })];
    await turns(5);
    assert.equal(fake.calls.length, 1);
    fake.call(0).done.resolve();
    await a;
    await waitFor(() => fake.calls.length === 2, 'the second flush');
    assert.deepEqual(fake.call(1).rows, [
      { key: 'b', value: 1 },
      { key: 'a', value: 2 },
      { key: 'c', value: 1 },
    ]);
    fake.call(1).done.resolve();
    await Promise.all(later);
  });

  it('a failed flush rejects exactly the writers of that batch; later writes still work', async () => {
    const fake = new FakeFlush();
    const w = writer(fake, { maxBatch: 2, maxInFlight: 2 });
    const a1 = track(w.write({ key: 'a', value: 1 }));
    const b = track(w.write({ key: 'b', value: 1 }));
    const a2 = track(w.write({ key: 'a', value: 2 }));
    const c = track(w.write({ key: 'c', value: 1 }));
    await waitFor(() => fake.calls.length === 2, 'two flushes');
    assert.deepEqual(fake.keys(0), ['a', 'b']);
    assert.deepEqual(fake.keys(1), ['c']);

    const failure = new Error('deadlock detected');
    fake.call(0).done.reject(failure);
    fake.call(1).done.resolve();
    await waitFor(() => [a1, b, a2, c].every((t) => t.state.status !== 'pending'), 'all writers settled');
    for (const t of [a1, b, a2]) assert.deepEqual(t.state, { status: 'rejected', reason: failure });
    assert.deepEqual(c.state, { status: 'fulfilled', value: undefined });

    const again = w.write({ key: 'a', value: 3 });
    await waitFor(() => fake.calls.length === 3, 'a flush after the failure');
    assert.deepEqual(fake.call(2).rows, [{ key: 'a', value: 3 }]);
    fake.call(2).done.resolve();
    await again;
  });

  it('idle() resolves at once when nothing was written', async () => {
    const fake = new FakeFlush();
    const w = writer(fake);
    await w.idle();
    assert.equal(fake.calls.length, 0);
  });

  it('idle() resolves only after every row has been flushed', async () => {
    const fake = new FakeFlush();
    const w = writer(fake, { maxBatch: 1, maxInFlight: 1 });
    const writes = [w.write({ key: 'a', value: 1 }), w.write({ key: 'b', value: 1 }), w.write({ key: 'c', value: 1 })];
    const idle = track(w.idle());
    for (let i = 0; i < 3; i++) {
      await waitFor(() => fake.calls.length === i + 1, `flush #${i}`);
      await turns();
      assert.equal(idle.state.status, 'pending', `idle before flush #${i} finished`);
      fake.call(i).done.resolve();
    }
    await waitFor(() => idle.state.status === 'fulfilled', 'idle');
    await Promise.all(writes);
    assert.equal(w.pending, 0);
  });

  it('idle() also resolves when the last flush failed', async () => {
    const fake = new FakeFlush();
    const w = writer(fake);
    const write = track(w.write({ key: 'a', value: 1 }));
    const idle = track(w.idle());
    await waitFor(() => fake.calls.length === 1, 'the flush');
    fake.call(0).done.reject(new Error('nope'));
    await waitFor(() => idle.state.status === 'fulfilled', 'idle');
    assert.equal(write.state.status, 'rejected');
  });
});

describe('BatchWriter isolates a bad row', () => {
  it('writes the rows of a batch one by one after an isolatable failure', async () => {
    const flushed: string[][] = [];
    const w = new BatchWriter<Row>({
      key: (r) => r.key,
      merge: (_a, b) => b,
      isolate: (err) => (err as Error).message === 'row refused',
      flush: (rows) => {
        flushed.push(rows.map((r) => r.key));
        return rows.some((r) => r.key === 'bad') ? Promise.reject(new Error('row refused')) : Promise.resolve();
      },
    });
    const outcomes = await Promise.allSettled([w.write({ key: 'a', value: 1 }), w.write({ key: 'bad', value: 2 }), w.write({ key: 'c', value: 3 })]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual(flushed, [['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });

  it('fails the whole batch, without isolating, on an error isolate does not pick', async () => {
    let calls = 0;
    const w = new BatchWriter<Row>({
      key: (r) => r.key,
      merge: (_a, b) => b,
      isolate: () => false,
      flush: () => {
        calls++;
        return Promise.reject(new Error('database away'));
      },
    });
    const outcomes = await Promise.allSettled([w.write({ key: 'a', value: 1 }), w.write({ key: 'b', value: 2 })]);
    assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected']);
    assert.equal(calls, 1);
  });
});
