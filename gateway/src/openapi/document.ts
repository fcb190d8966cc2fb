/**
 * The gateway's OpenAPI 3.1 document, built from the app's task catalogue when the app is
 * created: every task's submit with its schemas, every other route, every stable error code,
 * and the Bearer scheme when API keys are on. docs/http-client.md describes it.
 */
import type { Catalogue } from '../../../shared/src/app/index.js';
import { components } from './components.js';
import type { JsonSchema } from './json-schema.js';
import { apiRoutes, probeRoutes } from './other-routes.js';
import { taskOperations } from './task-operations.js';

export interface OpenApiOptions {
  catalogue: Catalogue;
  /** API keys required (AUTH_MODE=keys): the Bearer scheme applies to every `/api` operation. */
  keysOn: boolean;
  /** Most tasks in one batch (GATEWAY_MAX_BATCH). */
  maxBatch: number;
  /** Longest `?wait=`, in seconds (GATEWAY_MAX_WAIT_SECONDS). */
  maxWaitS: number;
  /** Whether the dashboard's JSON routes (`/api/v1/queues`, `/api/v1/workers`) exist. */
  dashboard: boolean;
  /** Whether `/api/v1/flow/keys` (the busiest flow-control keys) exists. @default false */
  flowKeys?: boolean;
  /** The package version, as the document's `info.version`. */
  version: string;
}

function parameters(maxWaitS: number): JsonSchema {
  return {
    TaskId: { name: 'id', in: 'path', required: true, description: 'The task id.', schema: { type: 'string' } },
    Wait: {
      name: 'wait',
      in: 'query',
      required: false,
      description: `Seconds to hold the request until the task is final (0 to ${maxWaitS}).`,
      schema: { type: 'number', minimum: 0, maximum: maxWaitS },
    },
    IdempotencyKey: {
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description: 'The same key within its window returns the same task instead of a new one.',
      schema: { type: 'string', minLength: 1, maxLength: 255 },
    },
  };
}

export function openApiDocument(options: OpenApiOptions): JsonSchema {
  // Who may be refused before a route runs: without keys, a Host that is not loopback or allowed (421).
  const authErrors = options.keysOn ? [401, 403, 429] : [421];
  const tasks = options.catalogue.names().flatMap((name) => {
    const task = options.catalogue.get(name);
    return task ? [task] : [];
  });
  const submits = taskOperations(tasks, { maxBatch: options.maxBatch, authErrors });
  const others = apiRoutes({ authErrors, dashboard: options.dashboard, flowKeys: options.flowKeys === true });
  const paths: Record<string, JsonSchema> = { ...submits.paths, ...others, ...probeRoutes() };
  // GET (search) and POST (batch) share `/api/v1/tasks`.
  paths['/api/v1/tasks'] = { ...others['/api/v1/tasks'], ...submits.paths['/api/v1/tasks'] };
  const base = components(options.keysOn);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Celerity gateway',
      version: options.version,
      description: 'Submit, wait on, read, revoke and stream the tasks of this app. Every error body is `{"error": {"code", "message"}}`; branch on `code`.',
    },
    tags: [
      { name: 'tasks', description: 'Submit and follow tasks.' },
      { name: 'operations', description: 'Operators\' routes.' },
      { name: 'probes', description: 'Health, readiness and metrics.' },
    ],
    ...(options.keysOn ? { security: [{ apiKey: [] }] } : {}),
    paths,
    components: { ...base, schemas: { ...(base.schemas as JsonSchema), ...submits.schemas }, parameters: parameters(options.maxWaitS) },
  };
}
