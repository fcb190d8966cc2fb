/**
 * Every route besides the per-task submits, as OpenAPI path items: reading, searching, waiting
 * on, revoking and streaming tasks, dead letters, the dashboard's JSON, the busiest flow keys, the document itself, and
 * the open probes. Kept beside the routes' own comments: a route added to the gateway gets its
 * entry here (test/integration/openapi.test.ts compares the two lists).
 */
import { errorResponse } from './components.js';
import type { JsonSchema } from './json-schema.js';

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema) => ({ 'application/json': { schema } });
const errors = (statuses: readonly number[]) => Object.fromEntries(statuses.map((status) => [status, errorResponse(status)]));
const taskId = { $ref: '#/components/parameters/TaskId' };
const query = (name: string, description: string, schema: JsonSchema = { type: 'string' }, required = false): JsonSchema => ({ name, in: 'query', required, description, schema });

const TASK_STATE_DESCRIPTION = 'One or more of PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, comma-separated.';

/** Path items of the routes under `/api/v1` other than the submits; `authErrors` go on each. */
export function apiRoutes(options: { authErrors: readonly number[]; dashboard: boolean; flowKeys: boolean }): Record<string, JsonSchema> {
  const read = [...options.authErrors, 500];
  const write = [...new Set([...options.authErrors, 403, 415, 500])];
  const paths: Record<string, JsonSchema> = {
    '/api/v1/tasks': {
      get: {
        operationId: 'searchTasks',
        tags: ['tasks'],
        summary: 'Search tasks, newest first (admin)',
        description: 'Keyset-paged: pass `nextCursor` as `cursor` with the same filters for the next page.',
        parameters: [
          query('id', 'Task id.'),
          query('name', 'Task name.'),
          query('state', TASK_STATE_DESCRIPTION),
          query('queue', 'Queue name.'),
          query('from', 'Created at or after (ISO 8601).', { type: 'string', format: 'date-time' }),
          query('to', 'Created before (ISO 8601).', { type: 'string', format: 'date-time' }),
          query('limit', 'Tasks per page.', { type: 'integer', minimum: 1, maximum: 200, default: 50 }),
          query('cursor', 'The previous page\'s `nextCursor`.'),
        ],
        responses: {
          200: { description: 'One page.', content: json({ type: 'object', required: ['tasks', 'nextCursor'], properties: { tasks: { type: 'array', items: ref('Task') }, nextCursor: { type: ['string', 'null'] } } }) },
          ...errors([400, ...read]),
        },
      },
    },
    '/api/v1/tasks/{id}': {
      get: {
        operationId: 'getTask',
        tags: ['tasks'],
        summary: 'Read a task; with `?wait=`, long-poll until it is final or the time is up',
        parameters: [taskId, { $ref: '#/components/parameters/Wait' }],
        responses: { 200: { description: 'The task.', content: json(ref('Task')) }, ...errors([400, 404, ...read]) },
      },
    },
    '/api/v1/tasks/{id}/revoke': {
      post: {
        operationId: 'revokeTask',
        tags: ['tasks'],
        summary: 'Revoke a task',
        description: 'A task not yet started never runs and ends `REVOKED`; with `"terminate": true` a running task is stopped. Revoking a finished task changes nothing: `200` with its final state.',
        parameters: [taskId],
        requestBody: { required: false, content: json({ type: 'object', additionalProperties: false, properties: { terminate: { type: 'boolean', default: false } } }) },
        responses: { 200: { description: 'The task after the revoke.', content: json(ref('Task')) }, ...errors([400, 404, 503, ...write]) },
      },
    },
    '/api/v1/tasks/{id}/events': {
      get: {
        operationId: 'taskEvents',
        tags: ['tasks'],
        summary: 'Stream a task\'s state changes and progress (Server-Sent Events)',
        description:
          'The current state at once, then one event per state change (`state`: the task representation), progress report (`progress`: `{fraction, message, at}`), output chunk (`output`: `{chunk, at}`) and log line (`log`: `{level, message, at}`); the stream ends after the final state. Each event has an `id:`; reconnect with `Last-Event-ID` (or `?lastEventId=`) to resume without gaps or repeats. Comment lines are heartbeats.',
        parameters: [taskId, { name: 'Last-Event-ID', in: 'header', required: false, description: 'The id of the last event received: the stream resumes after it.', schema: { type: 'string' } }],
        responses: {
          200: { description: 'An event stream: `id:`, `event:` and `data:` (JSON) fields per event.', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          204: { description: 'Resumed after the final state: nothing more to send.' },
          ...errors([400, 404, 503, ...read]),
        },
      },
    },
    '/api/v1/dead-letters': {
      get: {
        operationId: 'listDeadLetters',
        tags: ['operations'],
        summary: 'List a queue\'s dead letters without removing them (admin)',
        parameters: [query('queue', 'The task queue.', { type: 'string' }, true), query('limit', 'Most listed.', { type: 'integer', minimum: 1, maximum: 1000, default: 100 })],
        responses: { 200: { description: 'The dead letters.', content: json({ type: 'object', properties: { queue: { type: 'string' }, deadLetters: { type: 'array', items: { type: 'object' } } } }) }, ...errors([400, 503, ...read]) },
      },
    },
    '/api/v1/dead-letters/redrive': {
      post: {
        operationId: 'redriveDeadLetters',
        tags: ['operations'],
        summary: 'Publish dead letters onto their queue again (admin)',
        requestBody: {
          required: true,
          content: json({
            type: 'object',
            additionalProperties: false,
            required: ['queue'],
            properties: { queue: { type: 'string' }, ids: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string' } }, limit: { type: 'integer', minimum: 1, maximum: 1000 } },
          }),
        },
        responses: {
          200: { description: 'What was re-driven.', content: json({ type: 'object', properties: { queue: { type: 'string' }, redriven: { type: 'integer' }, ids: { type: 'array', items: { type: 'string' } }, skipped: { type: 'array', items: {} } } }) },
          ...errors([400, 503, ...write]),
        },
      },
    },
    '/api/v1/openapi.json': {
      get: {
        operationId: 'openApi',
        tags: ['operations'],
        summary: 'This document',
        responses: { 200: { description: 'OpenAPI 3.1.', content: json({ type: 'object' }) }, ...errors(read) },
      },
    },
  };
  if (options.dashboard) {
    paths['/api/v1/queues'] = {
      get: { operationId: 'queueStats', tags: ['operations'], summary: 'Queue depths, consumers and rates, with history (admin)', responses: { 200: { description: 'Queue stats.', content: json({ type: 'object' }) }, ...errors(read) } },
    };
    paths['/api/v1/workers'] = {
      get: { operationId: 'listWorkers', tags: ['operations'], summary: 'Workers seen on the broker (admin)', responses: { 200: { description: 'Workers.', content: json({ type: 'object', properties: { workers: { type: 'array', items: { type: 'object' } } } }) }, ...errors(read) } },
    };
  }
  if (options.flowKeys) {
    const count = { type: 'integer', minimum: 0 };
    const key = { type: 'object', required: ['task', 'key', 'waiting', 'running'], properties: { task: { type: 'string' }, key: { type: 'string' }, waiting: count, running: count } };
    paths['/api/v1/flow/keys'] = {
      get: {
        operationId: 'busiestFlowKeys',
        tags: ['operations'],
        summary: 'The busiest keys of flow control by key, with waiting and running tasks (admin)',
        description: 'Keys ordered by waiting + running tasks, most first; `totals` cover every key. Running: slots not expired; waiting: tasks parked for a slot of their key.',
        parameters: [query('limit', 'Keys listed.', { type: 'integer', minimum: 1, maximum: 100, default: 10 })],
        responses: {
          200: {
            description: 'The busiest keys and the totals.',
            content: json({
              type: 'object',
              required: ['keys', 'totals'],
              properties: { keys: { type: 'array', items: key }, totals: { type: 'object', required: ['waiting', 'running', 'keys'], properties: { waiting: count, running: count, keys: count } } },
            }),
          },
          ...errors([400, 503, ...read]),
        },
      },
    };
  }
  return paths;
}

/** The probes and the metrics, outside `/api`: no API key (metrics: METRICS_TOKEN or an admin key). */
export function probeRoutes(): Record<string, JsonSchema> {
  const status = (description: string, schema: JsonSchema) => ({ description, content: json(schema) });
  return {
    '/healthz': { get: { operationId: 'healthz', tags: ['probes'], summary: 'Liveness: 200 while the process runs', security: [], responses: { 200: status('Alive.', { type: 'object', properties: { status: { const: 'ok' } } }) } } },
    '/readyz': {
      get: {
        operationId: 'readyz',
        tags: ['probes'],
        summary: 'Readiness: 200 when connected to the broker and the database',
        security: [],
        responses: Object.fromEntries([200, 503].map((code) => [code, status(code === 200 ? 'Ready.' : 'Not ready.', { type: 'object', properties: { status: { type: 'string' }, broker: { enum: ['up', 'down'] }, database: { enum: ['up', 'down'] } } })])),
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        tags: ['probes'],
        summary: 'Prometheus metrics (METRICS_TOKEN or an admin key when either is configured)',
        responses: { 200: { description: 'Prometheus text format.', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors([401, 403]) },
      },
    },
  };
}
