/**
 * The workflow API: start a chain, group or chord (`POST /api/v1/workflows`) and read one
 * (`GET /api/v1/workflows/:id`, optionally `?wait=` until it ends); the dashboard finds the
 * workflows of a task with `GET /api/v1/workflows?taskId=`. A thin layer over
 * shared/src/submit/workflows.ts, as the task routes are over the submit path.
 */
import { Router } from 'express';
import { CelerityError } from '../../../shared/src/core/index.js';
import { toWorkflowRepresentation, type Workflows } from '../../../shared/src/submit/index.js';
import { accessOf, assertMaySubmit, mayReadTask, ownerOf } from '../auth/access.js';
import { ClientGone } from '../client-gone.js';
import { parseWait } from './tasks.js';

export interface WorkflowRoutesDeps {
  workflows: Workflows;
  maxWaitS: number;
  isDraining: () => boolean;
}

export function workflowRoutes(deps: WorkflowRoutesDeps): Router {
  const router = Router();

  router.post('/api/v1/workflows', async (req, res) => {
    if (deps.isDraining()) throw new CelerityError('SHUTTING_DOWN', 'The gateway is shutting down', { retryAfterS: 1 });
    const access = accessOf(res);
    const started = await deps.workflows.start(req.body, { owner: ownerOf(res), check: (name) => assertMaySubmit(access, name) });
    res.status(202).location(`/api/v1/workflows/${started.id}`).json(started);
  });

  router.get('/api/v1/workflows', async (req, res) => {
    const taskId = req.query.taskId;
    if (typeof taskId !== 'string' || taskId === '') throw new CelerityError('INVALID_REQUEST', 'Give the task whose workflows to list: ?taskId=<id>');
    const found = await deps.workflows.ofTask(taskId);
    res.json({ workflows: found.filter((w) => mayReadTask(accessOf(res), w)).map(({ id, kind, state }) => ({ id, kind, state })) });
  });

  router.get('/api/v1/workflows/:id', async (req, res) => {
    const waitS = parseWait(req.query.wait, deps.maxWaitS);
    const id = req.params.id;
    const signal = waitS > 0 ? new ClientGone(req, res) : undefined;
    const first = await deps.workflows.read(id);
    // Someone else's workflow is "not found", as for tasks.
    if (!first || !mayReadTask(accessOf(res), first)) throw new CelerityError('WORKFLOW_NOT_FOUND', `No workflow with id "${id}"`);
    const draining = deps.isDraining();
    if (draining) res.set('Connection', 'close');
    const record = signal && !draining && first.state === 'PENDING' ? ((await deps.workflows.wait(id, waitS * 1000, signal)) ?? first) : first;
    if (signal?.aborted) return;
    res.json(toWorkflowRepresentation(record));
  });

  return router;
}
