/**
 * The queue rule (shared/src/auth/queue-access.ts): reserved names are never usable by a caller,
 * whatever an allowlist or a key's scopes say; known and allowed queues are.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CelerityError } from '../../shared/src/core/errors.js';
import { QueueAllowlist, assertUsableQueue, reservedQueueReason } from '../../shared/src/auth/queue-access.js';
import { externalTask } from '../../shared/src/app/define-task.js';
import { parseScopes } from '../../shared/src/auth/scopes.js';
import { prepareSubmission } from '../../shared/src/submit/submission.js';

const queueName = fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/);

function refused(fn: () => void): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    return err instanceof CelerityError && err.code === 'INVALID_QUEUE';
  }
}

describe('queue access', () => {
  it('reserves Celerity\'s, Celery\'s and the broker\'s own names', () => {
    for (const name of ['celerity.delay', 'celerity.delay.1000', 'celerity.reply.gateway.x', 'demo.dead', 'celeryev', 'celeryev.abc', 'w1.celery.pidbox', 'amq.direct', '0b8a1f62-3c55-3e1e-9b6a-6b1a3f0e2d11']) {
      assert.ok(reservedQueueReason(name), name);
      assert.ok(refused(() => assertUsableQueue(name)), name);
    }
    for (const name of ['demo', 'reports.pdf', 'celery', 'deadline', 'dead.letters.of.mine']) assert.equal(reservedQueueReason(name), undefined, name);
  });

  it('never lets an allowlist, a key\'s queue: scopes or an admin pass a reserved name', () => {
    const open = new QueueAllowlist({ known: [], patterns: ['*'] });
    fc.assert(
      fc.property(queueName, fc.constantFrom('celerity.', ''), fc.constantFrom('.dead', ''), (name, prefix, suffix) => {
        const queue = `${prefix}${name}${suffix}`;
        const reserved = reservedQueueReason(queue) !== undefined || queue.startsWith('amq.');
        return refused(() => open.assertAllowed(queue, ['*'])) === reserved;
      }),
    );
  });

  it('allows the known queues, GATEWAY_ALLOWED_QUEUES patterns and a key\'s queue: patterns, and nothing else', () => {
    const allowlist = new QueueAllowlist({ known: ['demo', 'celerity.odd'], patterns: ['test.*'] });
    assert.ok(!refused(() => allowlist.assertAllowed('demo')));
    assert.ok(refused(() => allowlist.assertAllowed('celerity.odd')), 'reserved even when configured');
    assert.ok(!refused(() => allowlist.assertAllowed('test.a.1')));
    assert.ok(refused(() => allowlist.assertAllowed('billing')));
    const scopes = parseScopes('demo.*,queue:billing.*');
    assert.deepEqual(scopes.queues, ['billing.*']);
    assert.ok(!refused(() => allowlist.assertAllowed('billing.eu', scopes.queues)));
    assert.ok(refused(() => allowlist.assertAllowed('billing.dead', scopes.queues)));
  });

  it('applies the reserved names on the Node client\'s submit path, a task sent by name included', () => {
    // A task sent by name (no catalogue) is defined with the queue it is sent to.
    for (const queue of ['celerity.delay', 'demo.dead']) {
      assert.ok(refused(() => prepareSubmission(externalTask('reports.pdf', queue), { options: { queue } })), queue);
    }
    assert.equal(prepareSubmission(externalTask('reports.pdf', 'celery'), { options: { queue: 'reports' } }).queue, 'reports');
  });
});
