/**
 * The rule of deduplication on submit (decideDedupe), over generated sequences of submits,
 * finishes and elapsed time: a singleton never has two unfinished tasks for a key, a throttle
 * never accepts two tasks within its window, a debounce runs exactly one task per burst (the
 * last submit's), and a claim whose publish was never confirmed is waited for, then taken over.
 * The options' bounds are checked where a submit is validated (prepareSubmission).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decideDedupe, dedupeRowKey, UNCONFIRMED_TAKEOVER_MS, type DedupeMode } from '../../shared/src/submit/dedupe.js';
import { prepareSubmission } from '../../shared/src/submit/submission.js';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { CelerityError } from '../../shared/src/core/errors.js';
import type { HeldDedupe } from '../../shared/src/store/idempotency.js';
import { demoApp } from '../helpers/demo.js';

const WINDOW_MS = 1_000;

type Step = { kind: 'submit'; afterMs: number } | { kind: 'finish' };

const steps = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('submit' as const), afterMs: fc.integer({ min: 0, max: 3 * WINDOW_MS }) }),
    fc.record({ kind: fc.constant('finish' as const) }),
  ),
  { maxLength: 40 },
);

interface ModelTask {
  id: string;
  submittedAt: number;
  final: boolean;
  revoked: boolean;
  runAt?: number;
}

/** Plays `sequence` through the rule as the store would: a claim is confirmed at once. */
function play(mode: DedupeMode, sequence: Step[]): { tasks: ModelTask[]; submits: { at: number; taskId: string; fresh: boolean; heldBefore: ModelTask | undefined }[] } {
  const tasks: ModelTask[] = [];
  const submits: { at: number; taskId: string; fresh: boolean; heldBefore: ModelTask | undefined }[] = [];
  let held: ModelTask | undefined;
  let now = 0;
  for (const step of sequence) {
    if (step.kind === 'finish') {
      // The key's task ends (a debounced one only once due, and never one that was revoked).
      if (held && !held.final && (held.runAt === undefined || now >= held.runAt)) held.final = true;
      continue;
    }
    now += step.afterMs;
    const view: HeldDedupe | undefined = held && { taskId: held.id, claimedAt: held.submittedAt, unconfirmed: false, final: held.final, ...(held.runAt !== undefined ? { runAt: held.runAt } : {}) };
    const decision = decideDedupe(mode, WINDOW_MS, view, now);
    const heldBefore = held && { ...held };
    if (decision.kind === 'held') {
      submits.push({ at: now, taskId: decision.taskId, fresh: false, heldBefore });
      continue;
    }
    if (decision.kind === 'replace') {
      const replaced = tasks.find((t) => t.id === decision.replaced)!;
      replaced.revoked = true;
      replaced.final = true;
    }
    const task: ModelTask = { id: `t${tasks.length}`, submittedAt: now, final: false, revoked: false, ...(mode === 'debounce' ? { runAt: now + WINDOW_MS } : {}) };
    tasks.push(task);
    held = task;
    submits.push({ at: now, taskId: task.id, fresh: true, heldBefore });
  }
  return { tasks, submits };
}

describe('decideDedupe', () => {
  it('singleton: a submit gets a new task exactly when no task of its key is unfinished, so at most one is', () => {
    fc.assert(
      fc.property(steps, (sequence) => {
        const { submits } = play('singleton', sequence);
        for (const submit of submits) {
          const unfinished = submit.heldBefore !== undefined && !submit.heldBefore.final;
          assert.equal(submit.fresh, !unfinished);
          if (unfinished) assert.equal(submit.taskId, submit.heldBefore!.id);
        }
      }),
    );
  });

  it('throttle: accepted tasks are at least a window apart, and a submit within the window gets the accepted one', () => {
    fc.assert(
      fc.property(steps, (sequence) => {
        const { tasks, submits } = play('throttle', sequence);
        for (let i = 1; i < tasks.length; i++) assert.ok(tasks[i]!.submittedAt - tasks[i - 1]!.submittedAt >= WINDOW_MS);
        for (const submit of submits) {
          const within = submit.heldBefore !== undefined && submit.at - submit.heldBefore.submittedAt < WINDOW_MS;
          assert.equal(submit.fresh, !within, 'finishing does not end a throttle window early');
          if (within) assert.equal(submit.taskId, submit.heldBefore!.id);
        }
      }),
    );
  });

  it('debounce: every submit makes a task; one runs per burst, the last submit of it, and the others are revoked before they are due', () => {
    fc.assert(
      fc.property(steps, (sequence) => {
        const { tasks, submits } = play('debounce', sequence);
        assert.ok(submits.every((s) => s.fresh));
        // Every submit makes a task, in order: task i is revoked exactly when submit i + 1 came
        // while it still waited (before its eta), so the tasks that run are the last of each burst.
        tasks.forEach((task, i) => {
          const next = submits[i + 1];
          assert.equal(task.revoked, next !== undefined && next.at < task.runAt!);
          if (!task.revoked && next) assert.ok(next.at >= task.runAt!, 'no later submit fell within its window');
        });
      }),
    );
  });

  it("another process's unconfirmed claim is answered as held until it is old enough to be taken over", () => {
    fc.assert(
      fc.property(fc.constantFrom<DedupeMode>('singleton', 'throttle'), fc.integer({ min: 0, max: 2 * UNCONFIRMED_TAKEOVER_MS }), (mode, ageMs) => {
        const held: HeldDedupe = { taskId: 'a', claimedAt: 0, unconfirmed: true, final: false };
        const decision = decideDedupe(mode, 10 * UNCONFIRMED_TAKEOVER_MS, held, ageMs);
        assert.deepEqual(decision, ageMs >= UNCONFIRMED_TAKEOVER_MS ? { kind: 'claim' } : { kind: 'held', taskId: 'a', unconfirmed: true });
      }),
    );
  });

  it('row keys: one per task name, owner and key, never an Idempotency-Key (those have no spaces)', () => {
    fc.assert(
      fc.property(fc.constantFrom('a.b', 'a'), fc.option(fc.constantFrom('k1', 'k2'), { nil: null }), fc.string({ minLength: 1 }), fc.constantFrom('a.b', 'a'), fc.option(fc.constantFrom('k1', 'k2'), { nil: null }), fc.string({ minLength: 1 }), (n1, o1, k1, n2, o2, k2) => {
        assert.equal(dedupeRowKey(n1, o1, k1) === dedupeRowKey(n2, o2, k2), n1 === n2 && o1 === o2 && k1 === k2);
        assert.match(dedupeRowKey(n1, o1, k1), / /);
      }),
    );
  });
});

const catalogue = new Catalogue((await demoApp()).tasks);

describe('options.dedupe validation', () => {
  const add = catalogue.get('demo.add')!;
  const refused = (options: Record<string, unknown>, code: string, message: RegExp): void => {
    assert.throws(
      () => prepareSubmission(add, { args: [1, 2], options }),
      (err: unknown) => err instanceof CelerityError && err.code === code && message.test(err.message),
    );
  };

  it('refuses a key that is empty or over 200 characters, an unknown mode, a missing or out-of-range window', () => {
    refused({ dedupe: { key: 'x'.repeat(201), mode: 'singleton' } }, 'INVALID_DEDUPE', /dedupe\.key/);
    refused({ dedupe: { key: '', mode: 'singleton' } }, 'INVALID_DEDUPE', /dedupe\.key/);
    refused({ dedupe: { key: 'k', mode: 'once' } }, 'INVALID_DEDUPE', /dedupe\.mode/);
    refused({ dedupe: { key: 'k', mode: 'throttle' } }, 'INVALID_DEDUPE', /windowS is required/);
    refused({ dedupe: { key: 'k', mode: 'debounce', windowS: 0 } }, 'INVALID_DEDUPE', /dedupe\.windowS/);
    refused({ dedupe: { key: 'k', mode: 'throttle', windowS: 86_401 } }, 'INVALID_DEDUPE', /dedupe\.windowS/);
    refused({ dedupe: { key: 'k', mode: 'throttle', windowS: 5, extra: 1 } }, 'INVALID_DEDUPE', /dedupe/);
  });

  it('refuses a debounce with a countdown or eta, and a singleton whose result mode stores nothing', () => {
    refused({ dedupe: { key: 'k', mode: 'debounce', windowS: 5 }, countdown: 3 }, 'INVALID_DEDUPE', /countdown or eta/);
    refused({ dedupe: { key: 'k', mode: 'singleton' }, result: 'none' }, 'INVALID_DEDUPE', /result mode 'none'/);
  });

  it('accepts the documented bounds; a debounce is delayed by its window', () => {
    const key = 'k'.repeat(200);
    assert.equal(prepareSubmission(add, { args: [1, 2], options: { dedupe: { key, mode: 'singleton' } } }).dedupe?.key, key);
    const debounced = prepareSubmission(add, { args: [1, 2], options: { dedupe: { key: 'k', mode: 'debounce', windowS: 86_400 } } });
    assert.equal(debounced.eta!.getTime() - debounced.createdAt.getTime(), 86_400_000);
  });
});
