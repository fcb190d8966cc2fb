/**
 * Celery's canvas on the wire: the signatures a protocol v2 message embeds (`[args, kwargs,
 * {callbacks, errbacks, chain, chord}]`), read and written here and nowhere else. A signature
 * is Celery's `Signature` as JSON: `{task, args, kwargs, options, subtask_type, immutable}`;
 * `options` holds what `apply_async` takes (`task_id` once frozen, `queue`, `reply_to`,
 * `priority`, `expires`, `time_limit`, `soft_time_limit`). `chain` lists the steps still to
 * run in reverse order, so the worker pops the last one (Celery's `app/trace.py` does the
 * same), and each runs with the previous result prepended to its args unless `immutable`.
 */
import { createHash } from 'node:crypto';

/** One Celery signature, as JSON. */
export interface Signature {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  subtask_type?: string | null;
  immutable?: boolean;
}

/** What a message embeds besides its arguments; each part empty when the sender set none. */
export interface CanvasEmbed {
  callbacks: Signature[];
  errbacks: Signature[];
  /** Steps still to run, last first (`chain.pop()` is the next). */
  chain: Signature[];
  /** The chord's body, carried by each header task. */
  chord: Signature | null;
}

/**
 * Header naming the Celerity workflow a task belongs to (its `workflows` row). Celery ignores
 * it; a Celerity worker counts the task toward its workflow when it ends.
 */
export const WORKFLOW_HEADER = 'x-celerity-workflow';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A signature from the wire, or undefined when it is not one (no task name). */
export function readSignature(value: unknown): Signature | undefined {
  if (!isObject(value) || typeof value.task !== 'string' || value.task === '') return undefined;
  return {
    task: value.task,
    args: Array.isArray(value.args) ? (value.args as unknown[]) : [],
    kwargs: isObject(value.kwargs) ? value.kwargs : {},
    options: isObject(value.options) ? value.options : {},
    subtask_type: typeof value.subtask_type === 'string' ? value.subtask_type : null,
    immutable: value.immutable === true,
  };
}

function readList(value: unknown): Signature[] {
  if (!Array.isArray(value)) return [];
  return value.map(readSignature).filter((s): s is Signature => s !== undefined);
}

/** The embed of a message body's third element; every part empty when absent. */
export function readEmbed(embed: unknown): CanvasEmbed {
  if (!isObject(embed)) return emptyEmbed();
  return {
    callbacks: readList(embed.callbacks),
    errbacks: readList(embed.errbacks),
    chain: readList(embed.chain),
    chord: readSignature(embed.chord) ?? null,
  };
}

function emptyEmbed(): CanvasEmbed {
  return { callbacks: [], errbacks: [], chain: [], chord: null };
}

export function isEmptyEmbed(embed: CanvasEmbed): boolean {
  return embed.callbacks.length === 0 && embed.errbacks.length === 0 && embed.chain.length === 0 && embed.chord === null;
}

/** The embed as Celery writes it: `null` for a part with nothing in it. */
export function writeEmbed(embed: CanvasEmbed | undefined): Record<string, unknown> {
  return {
    callbacks: embed && embed.callbacks.length > 0 ? embed.callbacks : null,
    errbacks: embed && embed.errbacks.length > 0 ? embed.errbacks : null,
    chain: embed && embed.chain.length > 0 ? embed.chain : null,
    chord: embed?.chord ?? null,
  };
}

/**
 * The id of a signature's task: its frozen `task_id`, else one derived from the task that
 * sends it and the signature's place (`link:0`, `errback:1`), so that sending it again (a
 * redelivered parent) sends the same task, which the store runs once.
 */
export function signatureTaskId(signature: Signature, parentId: string, place: string): string {
  const frozen = signature.options.task_id;
  if (typeof frozen === 'string' && frozen !== '') return frozen;
  const hex = createHash('sha256').update(`${parentId}\0${place}`).digest('hex');
  // Shaped as a version-4 UUID (the gateway's task ids are UUIDs; API keys own only those).
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${((parseInt(hex.slice(16, 17), 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A signature's args once `value` (a result, a failed task's id) is prepended, as Celery does. */
export function argsWith(signature: Signature, value: unknown): unknown[] {
  return signature.immutable ? signature.args : [value, ...signature.args];
}
