/**
 * Which scope each API route needs, in one table, checked before any route runs. Task routes
 * make the finer checks themselves (the task name against the key's patterns, the task's owner);
 * every other /api route (dead letters, search, queue stats, and any route added later) needs
 * `admin` unless this table says otherwise: new routes are closed until someone opens them.
 */
import express, { type RequestHandler } from 'express';
import { accessOf, assertAdmin, assertMayReadTasks, assertMaySubmit, type Access } from './access.js';

// Task ids the gateway hands out are UUIDs; a key only ever owns such tasks, so other ids
// (from Celery clients) need admin anyway.
const TASK_BY_ID = /^\/api\/v1\/tasks\/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\/?$/;
const TASK_EVENTS = /^\/api\/v1\/tasks\/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\/events\/?$/;
const SUBMIT_ONE = /^\/api\/v1\/tasks\/[^/]+\/?$/;
const SUBMIT_BATCH = /^\/api\/v1\/tasks\/?$/;
const REVOKE = /^\/api\/v1\/tasks\/[^/]+\/revoke\/?$/;
const START_WORKFLOW = /^\/api\/v1\/workflows\/?$/;
const WORKFLOW_BY_ID = /^\/api\/v1\/workflows\/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\/?$/;

type Rule = { method: string; path: RegExp; check: (access: Access) => void };

const RULES: Rule[] = [
  // The route checks the task name (assertMaySubmit) and, for ?wait=, tasks:read.
  { method: 'POST', path: SUBMIT_ONE, check: () => undefined },
  // Every item's name is checked by batchScopes below (and by the batch route itself).
  { method: 'POST', path: SUBMIT_BATCH, check: () => undefined },
  // The route answers 404 for a task that is not the caller's.
  { method: 'GET', path: TASK_BY_ID, check: assertMayReadTasks },
  // The API's description (task names and schemas): any valid key, whatever its scopes.
  { method: 'GET', path: /^\/api\/v1\/openapi\.json$/, check: () => undefined },
  // The route lets the task's owner key or an admin revoke, and answers 404 to anyone else.
  { method: 'POST', path: REVOKE, check: () => undefined },
  // The same for its event stream.
  { method: 'GET', path: TASK_EVENTS, check: assertMayReadTasks },
  // The route checks every step's task name (assertMaySubmit) before anything is recorded.
  { method: 'POST', path: START_WORKFLOW, check: () => undefined },
  // The route answers 404 for a workflow that is not the caller's.
  { method: 'GET', path: WORKFLOW_BY_ID, check: assertMayReadTasks },
];

/** Refuses (403) what the table does not allow this caller. Runs after authentication. */
export const apiPolicy: RequestHandler = (req, res, next) => {
  const access = accessOf(res);
  const path = req.baseUrl + req.path;
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const rule = RULES.find((r) => r.method === method && r.path.test(path));
  (rule?.check ?? assertAdmin)(access);
  next();
};

/**
 * `POST /api/v1/tasks` (batch): every item's task name must be within the key's scopes, checked
 * here so that no batch implementation can forget it. Runs after the security layer parsed
 * the body, so nothing is checked against an unparsed body.
 */
export function batchScopes(): express.Router {
  const router = express.Router();
  router.post(SUBMIT_BATCH, (req, res, next) => {
    const access = accessOf(res);
    const tasks = (req.body as { tasks?: unknown } | undefined)?.tasks;
    if (access.kind === 'key' && Array.isArray(tasks)) {
      for (const item of tasks) {
        const name = (item as { name?: unknown } | null)?.name;
        if (typeof name === 'string') assertMaySubmit(access, name);
      }
    }
    next();
  });
  return router;
}
