/**
 * Step 5 of the pipeline, after a task's final state is committed and before the ack: what
 * the task's canvas says comes next, as Celery's worker does it (`app/trace.py`): on success
 * its `callbacks` (link) get the result and the next `chain` step is sent with the result
 * prepended and the rest of the chain; on failure its `errbacks` (link_error) get the failed
 * task's id. Then, for a task of a Celerity workflow, its end is counted in the store
 * (shared/src/store/workflow-store.ts), which may end the workflow or make a chord's body due.
 *
 * Every send has a fixed task id (the signature's frozen `task_id`, else one derived from this
 * task and the send's place), so a redelivered copy of a finished task, which runs this step
 * again, sends the same tasks again and the store runs each once. A throw leaves the message
 * unacked: it comes back, is found finished, and this step runs again.
 */
import {
  argsWith,
  encodeTaskMessage,
  publishTimeHeaders,
  readSignature,
  signatureTaskId,
  taskTarget,
  type DeclaredQueues,
  type Publisher,
  type Signature,
  type TaskMessage,
} from '../../../shared/src/broker/index.js';
import type { Catalogue } from '../../../shared/src/app/index.js';
import type { Logger } from '../../../shared/src/core/index.js';
import type { MemberEnd, WorkflowStore } from '../../../shared/src/store/index.js';
import type { CANVAS_SEND_KINDS, WorkerMetrics } from '../metrics.js';

export interface FollowDeps {
  publisher: Publisher;
  /** Task queues declared so far (a follow-up may go to a queue this worker does not consume). */
  taskQueues: DeclaredQueues;
  catalogue: Catalogue;
  workflows: WorkflowStore;
  logger: Logger;
  metrics: Pick<WorkerMetrics, 'canvasSends'>;
}

function kindOf(place: Send['place']): (typeof CANVAS_SEND_KINDS)[number] {
  if (place === 'chain') return 'chain';
  if (place === 'chord') return 'chord-body';
  return place.startsWith('link:') ? 'link' : 'errback';
}

/** One task to send after this one. */
interface Send {
  signature: Signature;
  args: unknown[];
  /** Where it comes from (`link:0`, `errback:1`, `chain`, `chord`): names its derived id. */
  place: 'chain' | 'chord' | `link:${number}` | `errback:${number}`;
  /** The chain still to run after it, last first. */
  chain: Signature[];
}

/** The sends a task's end calls for (pure). */
export function followUps(message: Pick<TaskMessage, 'id' | 'embed'>, end: MemberEnd): Send[] {
  const embed = message.embed;
  if (!embed) return [];
  if (end.state !== 'SUCCESS') {
    return embed.errbacks.map((signature, i) => ({ signature, args: argsWith(signature, message.id), place: `errback:${i}`, chain: [] }));
  }
  const sends: Send[] = embed.callbacks.map((signature, i) => ({ signature, args: argsWith(signature, end.result), place: `link:${i}`, chain: [] }));
  const next = embed.chain.at(-1);
  if (next) sends.push({ signature: next, args: argsWith(next, end.result), place: 'chain', chain: embed.chain.slice(0, -1) });
  return sends;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function list(value: unknown): Signature[] {
  return (Array.isArray(value) ? value : value ? [value] : []).map(readSignature).filter((s): s is Signature => s !== undefined);
}

/**
 * The message of a send: a Celery protocol v2 task message built from the signature's options
 * as Celery's `apply_async` reads them. Queue: the signature's `queue` (or `routing_key`), else
 * the catalogue's queue for the name, else the queue of the task that sends it.
 */
export function sendMessage(parent: TaskMessage, parentQueue: string, send: Send, catalogue: Catalogue): { queue: string; message: TaskMessage } {
  const { signature, place } = send;
  const o = signature.options;
  const queue = text(o.queue) ?? text(o.routing_key) ?? catalogue.get(signature.task)?.queue ?? parentQueue;
  const expires = typeof o.expires === 'number' ? new Date(Date.now() + o.expires * 1000).toISOString() : (text(o.expires) ?? null);
  const inWorkflow = parent.workflowId !== undefined && (place === 'chain' || place === 'chord');
  const chord = readSignature(o.chord);
  const embed = { callbacks: list(o.link), errbacks: list(o.link_error), chain: send.chain, chord: chord ?? null };
  const message: TaskMessage = {
    id: signatureTaskId(signature, parent.id, place),
    name: signature.task,
    args: send.args,
    kwargs: signature.kwargs,
    retries: 0,
    rootId: parent.rootId,
    parentId: parent.id,
    group: text(o.group_id) ?? null,
    ...(num(o.group_index) !== null ? { groupIndex: num(o.group_index) } : {}),
    eta: null,
    expires,
    timelimit: [num(o.time_limit), num(o.soft_time_limit)],
    replyTo: text(o.reply_to) ?? null,
    ignoreResult: o.ignore_result === true,
    origin: parent.origin,
    priority: num(o.priority),
    embed,
    ...(inWorkflow ? { workflowId: parent.workflowId } : {}),
  };
  return { queue, message };
}

async function publish(deps: FollowDeps, parent: TaskMessage, parentQueue: string, send: Send): Promise<string> {
  const { queue, message } = sendMessage(parent, parentQueue, send, deps.catalogue);
  const encoded = encodeTaskMessage(message);
  const headers = { ...(encoded.options.headers as Record<string, unknown>), ...publishTimeHeaders() };
  await deps.publisher.publish(taskTarget(deps.taskQueues, queue, 'redeclare'), { content: encoded.content, options: { ...encoded.options, headers, correlationId: message.id } });
  deps.metrics.canvasSends.inc({ kind: kindOf(send.place) });
  return message.id;
}

/** Runs the step for a task that ended as `end` (committed). */
export async function follow(deps: FollowDeps, message: TaskMessage, queue: string, end: MemberEnd, log: Logger): Promise<void> {
  for (const send of followUps(message, end)) {
    const id = await publish(deps, message, queue, send);
    log.info('sent the next task of its canvas', { place: send.place, next: send.signature.task, nextId: id });
  }
  if (message.workflowId === undefined) {
    if (message.embed?.chord) log.warn('chord header from a client other than Celerity: the chord body is not run (docs/celery.md)', { body: message.embed.chord.task });
    return;
  }
  const workflowId = message.workflowId;
  const decision = await deps.workflows.taskEnded(workflowId, message.id, end);
  if (decision.kind === 'finished') log.info('workflow finished', { workflowId, state: decision.state });
  if (decision.kind !== 'publish-body') return;
  const body = message.embed?.chord;
  if (!body) {
    log.error('chord header without its body in the message: the chord cannot go on', { workflowId });
    return;
  }
  const id = await publish(deps, message, queue, { signature: body, args: argsWith(body, decision.results), place: 'chord', chain: [] });
  await deps.workflows.bodyPublished(workflowId);
  if (decision.again) log.warn('chord body not marked sent when a header task ended again: sent it again under its id (the store runs it once)', { workflowId, bodyId: id });
  else log.info('every chord header task succeeded: sent the chord body', { workflowId, body: body.task, bodyId: id });
}
