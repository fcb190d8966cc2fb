/**
 * Celery's canvas on the wire and the worker's follow step (pure parts): which tasks a task's
 * end sends, with which arguments, ids, queues and workflow, as Celery's worker would.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { decodeTaskMessage, encodeTaskMessage, newTaskMessage, type TaskMessage } from '../../shared/src/broker/protocol.js';
import { signatureTaskId, type Signature } from '../../shared/src/broker/canvas.js';
import { prepareWorkflow } from '../../shared/src/submit/workflow-request.js';
import { prepareSubmission } from '../../shared/src/submit/submission.js';
import { followUps, sendMessage } from '../../worker/src/pipeline/follow.js';
import { demoApp } from '../helpers/demo.js';

const sig = (task: string, args: unknown[] = [], options: Record<string, unknown> = {}, immutable = false): Signature => ({ task, args, kwargs: {}, options, subtask_type: null, immutable });

function message(patch: Partial<TaskMessage> = {}): TaskMessage {
  return { ...newTaskMessage({ id: 'parent', name: 'demo.add', args: [1, 2], kwargs: {} }), ...patch };
}

describe('canvas: the follow step', () => {
  it('success sends every link with the result first and the next chain step with the rest of the chain', () => {
    const chain = [sig('c.last', [9], { task_id: 'id-last' }), sig('c.next', [3], { task_id: 'id-next' })];
    const m = message({ embed: { callbacks: [sig('cb.one', ['x']), sig('cb.two', [], {}, true)], errbacks: [sig('eb', [])], chain, chord: null } });
    const sends = followUps(m, { state: 'SUCCESS', result: 3, error: null });
    assert.deepEqual(sends.map((s) => [s.signature.task, s.args, s.place]), [['cb.one', [3, 'x'], 'link:0'], ['cb.two', [], 'link:1'], ['c.next', [3, 3], 'chain']]);
    assert.deepEqual(sends[2]!.chain, [chain[0]]);
  });

  it('a failure (or revoke) sends only the errbacks, each with the failed task’s id first; nothing without an embed', () => {
    const m = message({ embed: { callbacks: [sig('cb')], errbacks: [sig('eb', ['why'])], chain: [sig('next')], chord: null } });
    for (const state of ['FAILURE', 'REVOKED'] as const) {
      assert.deepEqual(followUps(m, { state, result: null, error: { type: 'E', message: 'm' } }).map((s) => [s.signature.task, s.args]), [['eb', ['parent', 'why']]]);
    }
    assert.deepEqual(followUps(message(), { state: 'SUCCESS', result: 1, error: null }), []);
  });

  it('a send’s id is its frozen task_id, else derived from the parent and its place: the same on every redelivery', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.constantFrom('link:0', 'link:1', 'errback:0', 'chain'), (parent, place) => {
        const id = signatureTaskId(sig('t'), parent, place);
        assert.equal(id, signatureTaskId(sig('t'), parent, place));
        assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.notEqual(id, signatureTaskId(sig('t'), parent, `${place}x`));
        assert.equal(signatureTaskId(sig('t', [], { task_id: 'frozen' }), parent, place), 'frozen');
      }),
    );
  });

  it('the sent message: queue from the signature, else the catalogue, else the parent’s; workflow only for chain and chord', async () => {
    const catalogue = new Catalogue((await demoApp()).tasks);
    const parent = message({ workflowId: 'wf-1', rootId: 'root' });
    const chain = sendMessage(parent, 'parentq', { signature: sig('demo.add', [1], { task_id: 'n', reply_to: 'r', time_limit: 5 }), args: [2, 1], place: 'chain', chain: [] }, catalogue);
    assert.equal(chain.queue, 'demo');
    assert.deepEqual([chain.message.id, chain.message.args, chain.message.replyTo, chain.message.timelimit, chain.message.rootId, chain.message.parentId, chain.message.workflowId], ['n', [2, 1], 'r', [5, null], 'root', 'parent', 'wf-1']);
    const link = sendMessage(parent, 'parentq', { signature: sig('py.only', [], { queue: 'elsewhere' }), args: [1], place: 'link:0', chain: [] }, catalogue);
    assert.equal(link.queue, 'elsewhere');
    assert.equal(link.message.workflowId, undefined);
    assert.equal(sendMessage(parent, 'parentq', { signature: sig('py.only'), args: [], place: 'link:0', chain: [] }, catalogue).queue, 'parentq');
  });
});

describe('canvas: workflows laid out as Celery messages', () => {
  it('a chain publishes its first task with the other steps frozen, reversed, in its chain field; the workflow rides in a header', async () => {
    const catalogue = new Catalogue((await demoApp()).tasks);
    const prepare = (name: string, body: unknown, complete: boolean) => prepareSubmission(catalogue.get(name)!, body, undefined, complete);
    const wf = prepareWorkflow(prepare, { chain: [{ name: 'demo.add', args: [1, 2] }, { name: 'demo.add', args: [3] }, { name: 'demo.sum', args: [] }] }, 10);
    assert.equal(wf.submissions.length, 1);
    const first = wf.submissions[0]!;
    const encoded = encodeTaskMessage({ ...newTaskMessage({ id: first.id, name: first.name, args: first.args, kwargs: first.kwargs, ...(first.canvas ? { canvas: first.canvas } : {}) }) });
    const decoded = decodeTaskMessage(encoded.content, encoded.options);
    assert.equal(decoded.workflowId, wf.id);
    assert.deepEqual(decoded.embed?.chain.map((s) => [s.task, s.options.task_id]), [['demo.sum', wf.members[2]!.taskId], ['demo.add', wf.members[1]!.taskId]]);
  });
});
