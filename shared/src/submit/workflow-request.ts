/**
 * A workflow request, validated and laid out as messages: `{"chain": [step, ...]}`,
 * `{"group": [step, ...]}` or `{"chord": {"header": [step, ...], "body": step}}`, each step a
 * batch item (`{name, args, kwargs, options}`). Every step goes through the same validation as
 * a submit (`Submitter.prepare`), all before anything is published; an error names the step
 * (`chain[2]: ...`). A step whose args are complete (a group's, a chord header's, a chain's
 * first) has them checked against its task's schema; a later chain step and a chord's body
 * get the previous result prepended when they run (Celery's partial signatures), so their
 * worker checks them then.
 *
 * The layout is Celery's canvas (shared/src/broker/canvas.ts): a chain is its first task with
 * the other steps in its `chain` field, each frozen with its task id; a group is its tasks
 * with the `group` header; a chord is its header tasks, each carrying the body in its `chord`
 * field. Every task carries the workflow's id, by which the worker counts it.
 */
import { randomUUID } from 'node:crypto';
import { CelerityError } from '../core/index.js';
import type { Signature } from '../broker/index.js';
import type { WorkflowKind, WorkflowMember } from '../store/index.js';
import type { Submission } from './submission.js';

/** A workflow ready to record and publish. */
export interface PreparedWorkflow {
  id: string;
  kind: WorkflowKind;
  /** Every task, in order (a chord's body last). */
  members: WorkflowMember[];
  /** The tasks published now: a chain's first, a group's members, a chord's header. */
  submissions: Submission[];
}

/** Prepares one step (`Submitter.prepare`); `checkArgs` false for partial args. */
export type PrepareStep = (name: string, body: unknown, checkArgs: boolean) => Submission;

/** Options a partial step (sent by a worker, later) cannot carry: they apply when published. */
const FIRST_ONLY_OPTIONS = ['countdown', 'eta', 'maxRetries'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const SHAPE = 'The body must be {"chain": [step, ...]}, {"group": [step, ...]} or {"chord": {"header": [step, ...], "body": step}}, each step {"name", "args", "kwargs", "options"}';

function invalid(message: string): never {
  throw new CelerityError('INVALID_REQUEST', message);
}

function steps(value: unknown, where: string, maxTasks: number): unknown[] {
  if (!Array.isArray(value)) invalid(`${where} must be a list of steps. ${SHAPE}`);
  if (value.length === 0) invalid(`${where} must list at least one step`);
  if (value.length > maxTasks) {
    throw new CelerityError('PAYLOAD_TOO_LARGE', `${where} lists ${value.length} steps; at most ${maxTasks} are accepted (GATEWAY_MAX_BATCH)`);
  }
  return value;
}

function prepareStep(prepare: PrepareStep, item: unknown, where: string, complete: boolean): Submission {
  if (!isObject(item) || typeof item.name !== 'string') invalid(`${where}: each step must be an object with a string "name"`);
  const { name, ...rest } = item;
  if (!complete && isObject(rest.options)) {
    const given = FIRST_ONLY_OPTIONS.filter((key) => rest.options !== undefined && (rest.options as Record<string, unknown>)[key] !== undefined);
    if (given.length > 0) throw new CelerityError('INVALID_OPTIONS', `${where}: ${given.join(', ')} apply only to the tasks a workflow starts with, not to a later chain step or a chord's body`);
  }
  try {
    return prepare(name, rest, complete);
  } catch (err) {
    if (!(err instanceof CelerityError)) throw err;
    throw new CelerityError(err.code === 'PAYLOAD_TOO_LARGE' || err.code === 'ARGUMENTS_TOO_LARGE' ? err.code : 'INVALID_REQUEST', `${where}: ${err.message} (${err.code})`, { cause: err });
  }
}

/** The signature a worker sends later: frozen with its task id and the options it can carry. */
function signatureOf(s: Submission): Signature {
  const options: Record<string, unknown> = { task_id: s.id, queue: s.queue };
  if (s.celery?.expires) options.expires = s.celery.expires;
  if (s.celery?.priority !== undefined && s.celery.priority !== null) options.priority = s.celery.priority;
  if (s.timeLimitS !== undefined) options.time_limit = s.timeLimitS;
  if (s.softTimeLimitS !== undefined) options.soft_time_limit = s.softTimeLimitS;
  return { task: s.name, args: s.args, kwargs: s.kwargs, options, subtask_type: null, immutable: false };
}

function member(s: Submission, position: number, role: WorkflowMember['role']): WorkflowMember {
  return { taskId: s.id, name: s.name, position, role };
}

/** Validates `body` and lays the workflow out; throws a CelerityError naming the failing step. */
export function prepareWorkflow(prepare: PrepareStep, body: unknown, maxTasks: number): PreparedWorkflow {
  if (!isObject(body)) invalid(SHAPE);
  const kinds = Object.keys(body);
  if (kinds.length !== 1 || !['chain', 'group', 'chord'].includes(kinds[0]!)) invalid(SHAPE);
  const id = randomUUID();
  const canvas = { workflowId: id };
  if ('chain' in body) {
    const prepared = steps(body.chain, 'chain', maxTasks).map((item, i) => prepareStep(prepare, item, `chain[${i}]`, i === 0));
    const [first, ...rest] = prepared;
    const chain = rest.map(signatureOf).reverse();
    const embed = { callbacks: [], errbacks: [], chain, chord: null };
    return { id, kind: 'chain', members: prepared.map((s, i) => member(s, i, 'step')), submissions: [{ ...first!, canvas: { ...canvas, embed } }] };
  }
  if ('group' in body) {
    const prepared = steps(body.group, 'group', maxTasks).map((item, i) => prepareStep(prepare, item, `group[${i}]`, true));
    const submissions = prepared.map((s, i) => ({ ...s, canvas: { ...canvas, group: id, groupIndex: i } }));
    return { id, kind: 'group', members: prepared.map((s, i) => member(s, i, 'member')), submissions };
  }
  const chord = body.chord;
  if (!isObject(chord) || Object.keys(chord).some((k) => k !== 'header' && k !== 'body') || chord.body === undefined) invalid(`chord must be {"header": [step, ...], "body": step}`);
  const header = steps(chord.header, 'chord.header', maxTasks).map((item, i) => prepareStep(prepare, item, `chord.header[${i}]`, true));
  const callback = prepareStep(prepare, chord.body, 'chord.body', false);
  const embed = { callbacks: [], errbacks: [], chain: [], chord: signatureOf(callback) };
  return {
    id,
    kind: 'chord',
    members: [...header.map((s, i) => member(s, i, 'header')), member(callback, header.length, 'body')],
    submissions: header.map((s, i) => ({ ...s, canvas: { ...canvas, group: id, groupIndex: i, embed } })),
  };
}
