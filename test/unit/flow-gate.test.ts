/**
 * The flow gate's contract with the task runner, with a fake store and publisher: a task type
 * without `concurrency` costs nothing; giving a slot back never throws (a slot not given back
 * expires); a slot whose task's other copy runs now is kept; a freed slot is published to the
 * oldest waiting task, whose waiting row goes after the confirm.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import type { DeclaredQueues, Publisher } from '../../shared/src/broker/index.js';
import type { Dispatchable, FlowKeyTx, FlowStore } from '../../shared/src/store/index.js';
import { defineTask, z } from '../../index.js';
import { FlowGate, UNLIMITED, type FlowEntry } from '../../worker/src/flow/flow-gate.js';
import type { Admitted } from '../../worker/src/pipeline/admit.js';
import type { Delivery } from '../../worker/src/pipeline/types.js';
import type { TaskMessage } from '../../shared/src/broker/protocol.js';

const limited = defineTask({ name: 'acme.sync', input: z.object({ c: z.string() }), concurrency: { key: (i) => i.c, limit: 1 }, run: () => 1 });
const plain = defineTask({ name: 'acme.plain', run: () => 1 });
const counter = { inc: () => undefined };

function gate(store: Partial<FlowStore>, published: string[] = []): FlowGate {
  const publisher = { publish: (_target: unknown, message: { options: { correlationId: string } }) => Promise.resolve(void published.push(message.options.correlationId)) };
  return new FlowGate({
    store: store as FlowStore,
    publisher: publisher as unknown as Publisher,
    taskQueues: {} as DeclaredQueues,
    catalogue: new Catalogue([limited, plain]),
    revoke: () => Promise.resolve(),
    workerName: 'w1',
    logger: createSilentLogger(),
    metrics: { parked: counter, dispatched: counter, superseded: counter },
  });
}

const admitted = (definition: typeof limited | typeof plain): Admitted =>
  ({ kind: 'run', definition, run: () => 1, cpuAppUrl: undefined, args: [], kwargs: { c: 'k' }, attempts: 1, deliveries: 1 }) as unknown as Admitted;
const message = (name: string): TaskMessage => ({ id: 't1', name }) as TaskMessage;
const delivery = { queue: 'q', content: Buffer.from('{}'), properties: { headers: {} }, redelivered: false } as Delivery;
const held = (): FlowEntry => ({ kind: 'enter', slot: { taskName: 'acme.sync', flowKey: 'k', taskId: 't1' } });

describe('flow gate', () => {
  it('a task type without concurrency enters without touching the store', async () => {
    const untouchable = new Proxy({}, { get: () => assert.fail('the store was used') });
    const entry = await gate(untouchable).enter(admitted(plain), message('acme.plain'), delivery);
    assert.equal(entry, UNLIMITED);
  });

  it('giving a slot back never throws, even with the database away', async () => {
    await gate({ withKey: () => Promise.reject(new Error('connection refused')) }).leave(held());
  });

  it('a slot kept for another copy of the task is not given back', async () => {
    let calls = 0;
    const flow = gate({ withKey: () => Promise.resolve(void (calls += 1)) } as Partial<FlowStore>);
    const entry = held();
    flow.keep(entry);
    await flow.leave(entry);
    assert.equal(calls, 0, 'the slot was given back');
  });

  it('a freed slot goes to the oldest waiting task: published, then its waiting row deleted after the confirm', async () => {
    const waiting: Dispatchable = { seq: '7', taskId: 'w1', queue: 'q', content: Buffer.from('{}'), properties: {} };
    const released: string[] = [];
    const deleted: string[] = [];
    const stamp = new Date();
    const tx: Partial<FlowKeyTx> = {
      releaseSlot: (id) => Promise.resolve(void released.push(id)),
      liveSlots: () => Promise.resolve([]),
      dispatchable: () => Promise.resolve([waiting]),
      dispatch: () => Promise.resolve(stamp),
    };
    const published: string[] = [];
    const flow = gate(
      {
        withKey: (_key, fn) => fn(tx as FlowKeyTx),
        deleteDispatched: (seq, at) => Promise.resolve(void deleted.push(`${seq}@${at.getTime()}`)),
      },
      published,
    );
    await flow.leave(held());
    assert.deepEqual([released, published, deleted], [['t1'], ['w1'], [`7@${stamp.getTime()}`]]);
  });
});
