import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChannelModel } from 'amqplib';
import { DeclaredQueues } from '../../shared/src/broker/declared-topology.js';
import { declareTaskQueue } from '../../shared/src/broker/apply-topology.js';
import { isValidQueueName } from '../../shared/src/core/names.js';
import { deferred, track, turns, type Deferred } from './support.js';

describe('isValidQueueName', () => {
  for (const name of ['demo', 'a', 'reports.daily', 'emails_eu-west:1', 'Q9', 'x'.repeat(200), 'celery']) {
    it(`accepts ${name.length > 20 ? `a ${name.length}-character name` : name}`, () => {
      assert.equal(isValidQueueName(name), true);
    });
  }

  for (const name of ['', 'x'.repeat(201), 'amq.gen-123', 'amq.direct', 'has space', 'slash/name', 'star*', 'ünïcode', 'tab\tname', 'new\nline']) {
    it(`refuses ${JSON.stringify(name.length > 20 ? `${name.slice(0, 5)}… (${name.length})` : name)}`, () => {
      assert.equal(isValidQueueName(name), false);
    });
  }

  it("allows 'amq' when not followed by a dot", () => {
    assert.equal(isValidQueueName('amqueue'), true);
    assert.equal(isValidQueueName('my.amq.queue'), true);
  });
});

/** A connection whose channels record the declares and wait for the test to let them finish. */
class FakeConnection {
  readonly declared: string[] = [];
  readonly gates: Deferred<void>[] = [];
  channelsOpened = 0;
  channelsClosed = 0;
  failNext: Error | undefined;

  readonly model = {
    createChannel: () => {
      this.channelsOpened++;
      const channel = {
        on: () => channel,
        assertExchange: async (name: string) => {
          const gate = deferred<void>();
          this.gates.push(gate);
          await gate.promise;
          const fail = this.failNext;
          this.failNext = undefined;
          if (fail) throw fail;
          this.declared.push(`exchange:${name}`);
        },
        assertQueue: (name: string) => {
          this.declared.push(`queue:${name}`);
          return Promise.resolve({ queue: name });
        },
        bindQueue: (queue: string, exchange: string, key: string) => {
          this.declared.push(`bind:${queue}<-${exchange}/${key}`);
          return Promise.resolve();
        },
        close: () => {
          this.channelsClosed++;
          return Promise.resolve();
        },
      };
      return Promise.resolve(channel);
    },
  };

  get connection(): ChannelModel {
    return this.model as unknown as ChannelModel;
  }

  async open(n: number): Promise<void> {
    for (let i = 0; i < 100 && this.gates.length < n; i++) await turns(1);
    assert.equal(this.gates.length, n, `${n} declares started`);
  }
}

describe('DeclaredQueues', () => {
  it('declares exchange, queue and binding once; concurrent callers share the declare', async () => {
    const fake = new FakeConnection();
    const queues = new DeclaredQueues();
    const a = track(queues.ensure(fake.connection, 'demo'));
    const b = track(queues.ensure(fake.connection, 'demo'));
    await fake.open(1);
    assert.equal(queues.has('demo'), false);
    fake.gates[0]?.resolve();
    await turns(10);
    assert.equal(a.state.status, 'fulfilled');
    assert.equal(b.state.status, 'fulfilled');
    assert.deepEqual(fake.declared, ['exchange:demo', 'queue:demo', 'bind:demo<-demo/demo']);
    assert.equal(fake.channelsOpened, 1);
    assert.equal(fake.channelsClosed, 1);
    assert.equal(queues.has('demo'), true);
    assert.deepEqual(queues.list(), ['demo']);
    await queues.ensure(fake.connection, 'demo');
    assert.equal(fake.channelsOpened, 1, 'a declared queue is not declared again');
  });

  it('a failed declare is not remembered, and forget() makes the next ensure declare again', async () => {
    const fake = new FakeConnection();
    const queues = new DeclaredQueues();
    fake.failNext = new Error('PRECONDITION_FAILED');
    const first = track(queues.ensure(fake.connection, 'q'));
    await fake.open(1);
    fake.gates[0]?.resolve();
    await turns(10);
    assert.equal(first.state.status, 'rejected');
    assert.equal(queues.has('q'), false);
    assert.equal(fake.channelsClosed, 1, 'the channel is closed after a failure too');

    const second = queues.ensure(fake.connection, 'q');
    await fake.open(2);
    fake.gates[1]?.resolve();
    await second;
    assert.equal(queues.has('q'), true);
    queues.forget('q');
    assert.equal(queues.has('q'), false);
    assert.equal(queues.size, 0);
  });

  it('refuses to declare more than maxQueues queues', async () => {
    const fake = new FakeConnection();
    const queues = new DeclaredQueues(2);
    const a = queues.ensure(fake.connection, 'a');
    const b = queues.ensure(fake.connection, 'b');
    await assert.rejects(queues.ensure(fake.connection, 'c'), RangeError);
    await fake.open(2);
    for (const gate of fake.gates) gate.resolve();
    await Promise.all([a, b]);
    assert.equal(queues.size, 2);
    await assert.rejects(queues.ensure(fake.connection, 'c'), RangeError);
  });

  it('ad-hoc queues cannot use up the cap for pinned (catalogue) queues', async () => {
    const fake = new FakeConnection();
    const queues = new DeclaredQueues(1, declareTaskQueue, ['demo']);
    const adHoc = queues.ensure(fake.connection, 'adhoc.1');
    await fake.open(1);
    fake.gates[0]?.resolve();
    await adHoc;
    await assert.rejects(queues.ensure(fake.connection, 'adhoc.2'), RangeError);
    const pinned = queues.ensure(fake.connection, 'demo');
    await fake.open(2);
    fake.gates[1]?.resolve();
    await pinned;
    assert.equal(queues.has('demo'), true);
  });
});
