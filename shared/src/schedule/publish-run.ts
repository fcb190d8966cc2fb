/**
 * One run's publish, through the submit path a submit takes (validation by the task's
 * schemas, the Celery message, the publisher confirm, the PENDING row): the run's task id was
 * chosen when the run was recorded, so a run published again (its first publisher died before
 * marking it) is the same task, which a worker runs once.
 */
import { CelerityError } from '../core/index.js';
import type { Catalogue, ScheduleDefinition } from '../app/index.js';
import { assertNoDedupe, identify, prepareSubmission, type ClientCore } from '../submit/index.js';

/** What a publish came to: published, or refused for good (the run is skipped with that reason). */
export type PublishOutcome = { kind: 'published' } | { kind: 'refused'; reason: 'unknown-task' | 'invalid'; message: string };

export async function publishRun(core: Pick<ClientCore, 'submit'>, catalogue: Catalogue, definition: ScheduleDefinition, taskId: string, republish: boolean): Promise<PublishOutcome> {
  const task = catalogue.get(definition.task);
  if (!task) return { kind: 'refused', reason: 'unknown-task', message: `task "${definition.task}" is not in this scheduler's app` };
  let submission;
  try {
    submission = identify(prepareSubmission(task, { args: definition.args, kwargs: definition.kwargs, options: definition.options }), taskId);
    assertNoDedupe(submission, 'a schedule');
  } catch (err) {
    if (err instanceof CelerityError) return { kind: 'refused', reason: 'invalid', message: err.message };
    throw err;
  }
  // Flagged as a copy seen before: the worker reads the store before running it (its first
  // publish may have reached the broker).
  await core.submit(republish ? { ...submission, republish: true } : submission);
  return { kind: 'published' };
}
