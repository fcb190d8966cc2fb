/**
 * `GET /api/v1/tasks/:id/events`: a task's Server-Sent Events stream (docs/events.md). Access as
 * for `GET /api/v1/tasks/:id`: a task the caller may not read is "not found". `Last-Event-ID`
 * (or `?lastEventId=`, for a first connection that cannot set headers) resumes after that event.
 */
import { Router } from 'express';
import { CelerityError, stateOrder } from '../../../shared/src/core/index.js';
import type { ClientCore } from '../../../shared/src/submit/index.js';
import { accessOf, mayReadTask } from '../auth/access.js';
import { parseCursor } from '../events/event-stream.js';
import type { EventStreams } from '../events/event-streams.js';

/** The order of every final state. */
const FINAL_ORDER = stateOrder('SUCCESS', 0);

export interface TaskEventRoutesDeps {
  core: Pick<ClientCore, 'submit' | 'read' | 'ledger'>;
  isDraining: () => boolean;
  /** The open streams; absent = no event streams on this gateway (404). */
  eventStreams?: Pick<EventStreams, 'open'>;
}

export function taskEventRoutes(deps: TaskEventRoutesDeps): Router {
  const router = Router();
  const streams = deps.eventStreams;
  if (!streams) return router;

  router.get('/api/v1/tasks/:id/events', async (req, res) => {
    if (deps.isDraining()) throw new CelerityError('SHUTTING_DOWN', 'The gateway is shutting down', { retryAfterS: 1 });
    const id = req.params.id;
    const given = req.get('last-event-id') ?? (typeof req.query.lastEventId === 'string' ? req.query.lastEventId : undefined);
    const cursor = given === undefined || given === '' ? undefined : parseCursor(given);
    if (given && !cursor) throw new CelerityError('INVALID_EVENT_ID', 'Last-Event-ID must be the id of an event of this stream, such as "12-2"');
    const task = await deps.core.read(id);
    // Someone else's task is "not found": its existence is not confirmed.
    if (!task || !mayReadTask(accessOf(res), task)) throw new CelerityError('TASK_NOT_FOUND', `No task with id "${id}"`);
    // The client had the final state (an EventSource reconnects after every end): 204 tells it to stop.
    if (cursor && cursor.order >= FINAL_ORDER) {
      res.status(204).end();
      return;
    }
    streams.open(task, res, cursor);
    // The stream outlives this handler: Express's router state for the request (its \`next\`
    // and the closures under it) is not needed again, and would be held for the stream's life.
    (req as { next?: unknown }).next = undefined;
  });

  return router;
}
