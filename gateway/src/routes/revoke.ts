/**
 * `POST /api/v1/tasks/:id/revoke` (`{"terminate": bool}`, optional): a task not started yet
 * never runs and ends REVOKED; with `terminate` a running one is stopped too. Answers 200 with
 * the task as it stands after the revoke (a finished task unchanged), 404 for an unknown id or
 * another key's task (as reads). Who may: the task's owner key, or an admin key.
 */
import { Router } from 'express';
import { CelerityError, isFinalState, toRepresentation, type TaskRecord } from '../../../shared/src/core/index.js';
import { revokeTask, type ClientCore, type Revoker } from '../../../shared/src/submit/index.js';
import { accessOf, ownerOf, type Access } from '../auth/access.js';

/** How long a terminate waits for the running task's REVOKED before answering, in ms. */
const TERMINATE_WAIT_MS = 5_000;

export interface RevokeRoutesDeps {
  core: Pick<ClientCore, 'submit' | 'read' | 'ledger'>;
  revoker: Pick<Revoker, 'revoke'>;
}

/** Admins (and open access) revoke any task; a key, only the tasks it submitted. */
function mayRevokeTask(access: Access, task: Pick<TaskRecord, 'owner'>): boolean {
  if (access.kind === 'open' || access.key.scopes.admin) return true;
  return task.owner != null && task.owner === access.key.id;
}

function parseTerminate(body: unknown): boolean {
  if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)) return false;
  if (typeof body !== 'object' || Array.isArray(body)) throw new CelerityError('INVALID_REQUEST', 'The body must be a JSON object such as {"terminate": true}');
  const { terminate, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new CelerityError('INVALID_REQUEST', `Unknown field(s) in a revoke: ${unknown.join(', ')} (only "terminate")`);
  if (terminate !== undefined && typeof terminate !== 'boolean') throw new CelerityError('INVALID_REQUEST', '"terminate" must be true or false');
  return terminate === true;
}

export function revokeRoutes(deps: RevokeRoutesDeps): Router {
  const router = Router();
  router.post('/api/v1/tasks/:id/revoke', async (req, res) => {
    const id = req.params.id;
    const terminate = parseTerminate(req.body);
    const access = accessOf(res);
    const owner = ownerOf(res);
    const task = await revokeTask({ read: (taskId) => deps.core.read(taskId), revoker: deps.revoker }, id, {
      terminate,
      by: owner ?? 'gateway',
      visible: (t) => mayRevokeTask(access, t),
    });
    if (!task) throw new CelerityError('TASK_NOT_FOUND', `No task with id "${id}"`);
    if (!terminate || isFinalState(task.state)) {
      res.json(toRepresentation(task));
      return;
    }
    // A running task ends once its worker heard the broadcast and recorded REVOKED: answered
    // with that end when it comes soon, else as it stands (it still ends REVOKED).
    const finished = await deps.core.ledger.wait(id, { timeoutMs: TERMINATE_WAIT_MS, pollAfterMs: 0 });
    const latest = finished?.kind === 'record' ? finished.record : ((await deps.core.read(id)) ?? task);
    res.json(toRepresentation(latest));
  });
  return router;
}
