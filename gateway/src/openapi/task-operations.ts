/**
 * One OpenAPI operation per task of the app (`POST /api/v1/tasks/<name>`), each with the request
 * body its schemas accept, and the batch submit (`POST /api/v1/tasks`), whose items are one of
 * the tasks, told apart by `name`. A concrete path per task, rather than one `{name}` template,
 * gives a generated client one typed function per task.
 */
import { checkArguments, type TaskDefinition } from '../../../shared/src/app/index.js';
import { errorResponse } from './components.js';
import { inputJsonSchema, type JsonSchema } from './json-schema.js';

const schemaRef = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema) => ({ 'application/json': { schema } });

/** The name of a task's submit body among the components (component names may hold dots). */
const bodyName = (task: TaskDefinition): string => `Submit.${task.name}`;
const itemName = (task: TaskDefinition): string => `BatchItem.${task.name}`;

/** Which of `args` and `kwargs` the task cannot do without (the gateway sends `[]` and `{}` otherwise). */
function requiredFields(task: TaskDefinition): string[] {
  const check = checkArguments(task, [], {});
  if (check.ok) return [];
  const roots = new Set(check.issues.map((issue) => issue.path.split('.')[0]));
  return ['args', 'kwargs'].filter((field) => roots.has(field));
}

/** The body of a submit of `task`: its arguments as its schemas describe them, and the options. */
function submitBody(task: TaskDefinition): JsonSchema {
  const input = task.style === 'input';
  return {
    type: 'object',
    additionalProperties: false,
    description: input
      ? `${task.name} takes one object of named fields: send it as "kwargs" (no positional "args").`
      : `${task.name} takes positional "args" and keyword "kwargs".`,
    required: requiredFields(task),
    properties: {
      ...(input ? { args: { type: 'array', maxItems: 0 } } : { args: inputJsonSchema(task.args) }),
      kwargs: inputJsonSchema(task.kwargs),
      options: schemaRef('SubmitOptions'),
    },
  };
}

/** `submit_<name>` with dots and dashes as `_`, made unique (`demo.a_b` and `demo_a.b` both exist). */
function operationIds(tasks: readonly TaskDefinition[]): Map<string, string> {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const task of tasks) {
    const base = `submit_${task.name.replace(/[^A-Za-z0-9_]/g, '_')}`;
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}_${n}`;
    used.add(id);
    ids.set(task.name, id);
  }
  return ids;
}

/** What is said about a task beside its schemas (also as the `x-celerity-task` extension). */
function taskFacts(task: TaskDefinition): JsonSchema {
  return {
    name: task.name,
    queue: task.queue,
    style: task.style ?? 'args',
    cpu: task.cpu,
    ...(task.external ? { external: true } : {}),
    ...(task.timeLimitS !== undefined ? { timeLimitS: task.timeLimitS } : {}),
  };
}

const WRITE_ERRORS = [400, 404, 409, 413, 415, 503];

function submitOperation(task: TaskDefinition, operationId: string, authErrors: readonly number[]): JsonSchema {
  const location = { Location: { description: 'The task: `/api/v1/tasks/{id}`.', schema: { type: 'string' } } };
  const required = requiredFields(task).length > 0;
  return {
    post: {
      operationId,
      tags: ['tasks'],
      summary: `Submit ${task.name}`,
      description: [task.description, `Queue \`${task.queue}\`${task.cpu ? ', CPU-bound (runs on the worker\'s thread pool)' : ''}${task.external ? ', run by a worker outside Celerity' : ''}.`, 'Answered `202` once the broker confirmed the message; with `?wait=` `200` if the task finished within the wait. With `options.dedupe`, a submit that gets an earlier task back (singleton, throttle) is answered `200` with that task and the header `Deduplicated: true`.'].filter((s) => s !== '').join('\n\n'),
      'x-celerity-task': taskFacts(task),
      parameters: [{ $ref: '#/components/parameters/Wait' }, { $ref: '#/components/parameters/IdempotencyKey' }],
      requestBody: { required, content: json(schemaRef(bodyName(task))) },
      responses: {
        200: {
          description: 'Finished within `?wait=` (state SUCCESS or FAILURE); or deduplicated by `options.dedupe`: the earlier task with its key, as it stands.',
          headers: { ...location, Deduplicated: { description: '`true` when `options.dedupe` returned an earlier task instead of submitting a new one.', schema: { type: 'string', enum: ['true'] } } },
          content: json(schemaRef('Task')),
        },
        202: { description: 'Accepted: the broker confirmed the message.', headers: location, content: json(schemaRef('Task')) },
        ...Object.fromEntries([...WRITE_ERRORS, ...authErrors].map((status) => [status, errorResponse(status)])),
      },
    },
  };
}

function batchOperation(tasks: readonly TaskDefinition[], maxBatch: number, authErrors: readonly number[]): JsonSchema {
  return {
    post: {
      operationId: 'submitBatch',
      tags: ['tasks'],
      summary: 'Submit several tasks at once',
      description: 'Every item is validated before anything is published (a `400` names the failing index); `202` once every publish is confirmed, in order.',
      requestBody: {
        required: true,
        content: json({
          type: 'object',
          additionalProperties: false,
          required: ['tasks'],
          properties: {
            tasks: {
              type: 'array',
              minItems: 1,
              maxItems: maxBatch,
              items: {
                oneOf: tasks.map((task) => schemaRef(itemName(task))),
                discriminator: { propertyName: 'name', mapping: Object.fromEntries(tasks.map((task) => [task.name, `#/components/schemas/${itemName(task)}`])) },
              },
            },
          },
        }),
      },
      responses: {
        202: {
          description: 'Every task accepted, in the order given.',
          content: json({ type: 'object', required: ['tasks'], properties: { tasks: { type: 'array', items: schemaRef('Accepted') } } }),
        },
        ...Object.fromEntries([400, 413, 415, 503, ...authErrors].map((status) => [status, errorResponse(status)])),
      },
    },
  };
}

/** The paths and component schemas of every task's submit, and of the batch. */
export function taskOperations(tasks: readonly TaskDefinition[], options: { maxBatch: number; authErrors: readonly number[] }): { paths: Record<string, JsonSchema>; schemas: Record<string, JsonSchema> } {
  const ids = operationIds(tasks);
  const paths: Record<string, JsonSchema> = {};
  const schemas: Record<string, JsonSchema> = {};
  for (const task of tasks) {
    const body = submitBody(task);
    schemas[bodyName(task)] = body;
    const bodyProperties = body.properties as Record<string, JsonSchema>;
    schemas[itemName(task)] = {
      type: 'object',
      additionalProperties: false,
      required: ['name', ...(body.required as string[])],
      properties: { name: { const: task.name }, ...bodyProperties },
    };
    paths[`/api/v1/tasks/${task.name}`] = submitOperation(task, ids.get(task.name) ?? task.name, options.authErrors);
  }
  if (tasks.length > 0) paths['/api/v1/tasks'] = batchOperation(tasks, options.maxBatch, options.authErrors);
  return { paths, schemas };
}
