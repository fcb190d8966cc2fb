/**
 * The parts of the OpenAPI document every operation refers to: the task representation, its
 * states, the submit options, the error body with its stable codes (one response per HTTP status,
 * listing the codes that status carries), and the Bearer scheme.
 */
import { ERROR_STATUS, TASK_STATES, type ErrorCode } from '../../../shared/src/core/index.js';
import { submitOptionsSchema } from '../../../shared/src/submit/index.js';
import { ownJsonSchema, type JsonSchema } from './json-schema.js';

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: 'null' }] });
const time = nullable({ type: 'string', format: 'date-time' });

/** Every stable error code, grouped by the HTTP status it is sent with. */
export function codesByStatus(): Map<number, ErrorCode[]> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const [code, status] of Object.entries(ERROR_STATUS) as [ErrorCode, number][]) {
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return byStatus;
}

/** `#/components/responses/Error<status>`: the error body of one status. */
export const errorResponse = (status: number): JsonSchema => ({ $ref: `#/components/responses/Error${status}` });

const RETRY_AFTER = { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 0 } };

function errorResponses(): Record<string, JsonSchema> {
  const responses: Record<string, JsonSchema> = {};
  for (const [status, codes] of codesByStatus()) {
    responses[`Error${status}`] = {
      description: `Error: ${codes.join(', ')}.`,
      ...(status === 429 || status === 503 ? { headers: { 'Retry-After': RETRY_AFTER } } : {}),
      content: {
        'application/json': {
          schema: {
            allOf: [ref('Error')],
            properties: { error: { type: 'object', properties: { code: { enum: codes } } } },
          },
        },
      },
    };
  }
  return responses;
}

const taskRepresentation: JsonSchema = {
  type: 'object',
  description: 'A task as the gateway reports it. Fields without a value may be absent or null.',
  required: ['id', 'name', 'queue', 'state'],
  properties: {
    id: { type: 'string', description: 'The task id (a UUID unless the caller chose another).' },
    name: { type: 'string', examples: ['demo.add'] },
    queue: { type: 'string' },
    state: ref('TaskState'),
    args: { type: 'array', items: {} },
    kwargs: { type: 'object', additionalProperties: {} },
    result: { description: 'What the task returned (state SUCCESS).' },
    error: nullable({
      type: 'object',
      required: ['type', 'message'],
      properties: { type: { type: 'string' }, message: { type: 'string' } },
    }),
    retries: { type: 'integer', minimum: 0 },
    createdAt: time,
    startedAt: time,
    finishedAt: time,
    worker: nullable({ type: 'string' }),
    attempts: { type: 'integer', minimum: 0 },
  },
};

/** `components` of the document; `securitySchemes` only when API keys are on. */
export function components(keysOn: boolean): JsonSchema {
  return {
    schemas: {
      TaskState: { type: 'string', enum: [...TASK_STATES], description: "Celery's state names; a task's state only moves forward." },
      Task: taskRepresentation,
      SubmitOptions: { ...ownJsonSchema(submitOptionsSchema), description: 'How and when the task runs; every field is optional.' },
      ErrorCode: { type: 'string', enum: Object.keys(ERROR_STATUS), description: 'Stable error codes: branch on these, never on the message.' },
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: { code: ref('ErrorCode'), message: { type: 'string', description: 'Human text; it may change.' } },
          },
        },
      },
      Accepted: {
        type: 'object',
        required: ['id', 'name', 'queue', 'state'],
        properties: { id: { type: 'string' }, name: { type: 'string' }, queue: { type: 'string' }, state: ref('TaskState') },
      },
    },
    responses: errorResponses(),
    ...(keysOn
      ? { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key made with `celerity keys create`: `Authorization: Bearer <key>`.' } } }
      : {}),
  };
}
