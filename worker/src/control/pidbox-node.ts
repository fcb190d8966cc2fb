/**
 * The worker's side of Celery's remote control (shared/src/broker/pidbox.ts): it consumes its
 * mailbox queue `<name>.celery.pidbox` (bound to the fanout `celery.pidbox`, declared as kombu
 * declares it, again after every reconnect) without acks, as kombu's `Node` does; acts on the
 * commands addressed to it, one at a time in arrival order; and replies `{"<name>": reply}` to
 * the caller's reply exchange with its `ticket`. A message that is not a command is logged and
 * dropped; a command whose caller stopped listening (`expires` passed) is dropped unanswered.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { Counter, type Registry } from 'prom-client';
import {
  applyTopology,
  CONTENT_ENCODING,
  CONTENT_TYPE,
  decodeControlMessage,
  isForWorker,
  ManagedChannel,
  pidboxNodeTopology,
  pidboxQueueName,
  type Broker,
  type ControlRequest,
} from '../../../shared/src/broker/index.js';
import type { Logger, QueueTypes } from '../../../shared/src/core/index.js';
import { COMMANDS, isKnownCommand, type CommandContext } from './commands.js';
import type { ControlWorker } from './control-target.js';
import { nok } from './replies.js';

/** The exchange replies go to: the one kombu's callers use, which this node declares (publishing to a missing exchange would close the channel). */
const REPLY_EXCHANGE = 'reply.celery.pidbox';

export interface PidboxNodeOptions {
  worker: ControlWorker;
  logger: Logger;
  registry: Registry;
  queueTypes?: QueueTypes;
  version: string;
}

export class PidboxNode {
  readonly #options: PidboxNodeOptions;
  readonly #commands: Counter<'method' | 'outcome'>;
  readonly #context: CommandContext;
  #managed: ManagedChannel | undefined;
  #clock = 0;
  /** Commands run one after another, in arrival order. */
  #queue: Promise<void> = Promise.resolve();

  private constructor(options: PidboxNodeOptions) {
    this.#options = options;
    this.#commands = new Counter({
      name: 'celerity_worker_control_commands_total',
      help: 'Remote-control (pidbox) commands this worker received, by method and outcome (ok, error, dropped).',
      labelNames: ['method', 'outcome'],
      registers: [options.registry],
    });
    // Series at 0 from start-up, as every counter's: each command answered, and the mailbox's drops.
    for (const method of Object.keys(COMMANDS)) this.#commands.inc({ method, outcome: 'ok' }, 0);
    this.#commands.inc({ method: 'invalid', outcome: 'dropped' }, 0);
    this.#context = { worker: options.worker, queueTypes: options.queueTypes, clock: () => this.#clock, startedAt: Date.now(), version: options.version };
  }

  /** Declares the mailbox and starts answering. */
  static async create(broker: Broker, options: PidboxNodeOptions): Promise<PidboxNode> {
    const node = new PidboxNode(options);
    const hostname = options.worker.target().name;
    node.#managed = await ManagedChannel.open(broker, {
      name: 'control channel',
      logger: options.logger,
      setup: (channel) => applyTopology(channel, pidboxNodeTopology(hostname)).then(() => undefined),
    });
    await node.#managed.consume(pidboxQueueName(hostname), (message, channel) => node.#onMessage(message, channel), { noAck: true });
    return node;
  }

  #onMessage(message: ConsumeMessage, channel: Channel): void {
    const headers: Record<string, unknown> | undefined = message.properties.headers;
    const clock = Number(headers?.clock);
    if (Number.isFinite(clock)) this.#clock = Math.max(this.#clock, clock);
    this.#clock++;
    const decoded = decodeControlMessage(message.content, headers);
    if (!decoded.ok) {
      this.#options.logger.warn('dropped a remote-control message that is not a command', { reason: decoded.reason, bytes: message.content.length });
      this.#commands.inc({ method: 'invalid', outcome: 'dropped' });
      return;
    }
    const { request } = decoded;
    if (!isForWorker(request, this.#options.worker.target().name)) return;
    if (request.expires !== undefined && request.expires * 1000 < Date.now()) {
      this.#options.logger.info('dropped a remote-control command whose caller stopped waiting', { method: request.method });
      this.#commands.inc({ method: this.#label(request.method), outcome: 'dropped' });
      return;
    }
    this.#queue = this.#queue.then(() => this.#dispatch(request, channel));
  }

  #label(method: string): string {
    return isKnownCommand(method) ? method : 'unknown';
  }

  async #dispatch(request: ControlRequest, channel: Channel): Promise<void> {
    const { logger, worker } = this.#options;
    const { method } = request;
    let reply: unknown;
    const handler = isKnownCommand(method) ? COMMANDS[method] : undefined;
    if (!handler) {
      reply = nok(`No such control command: ${method}`);
    } else {
      try {
        reply = await handler(request.arguments, this.#context);
      } catch (err) {
        reply = nok((err as Error).message);
      }
    }
    const failed = typeof reply === 'object' && reply !== null && 'error' in reply;
    this.#commands.inc({ method: this.#label(method), outcome: failed ? 'error' : 'ok' });
    if (failed) logger.warn('remote-control command refused', { method, arguments: request.arguments, reply });
    else logger.info('remote-control command', { method, arguments: request.arguments });
    if (request.replyTo) this.#reply(request, reply, channel);
    if (method === 'shutdown') {
      logger.warn('remote shutdown requested: stopping gracefully');
      worker.shutdown();
    }
  }

  #reply(request: ControlRequest, reply: unknown, channel: Channel): void {
    const replyTo = request.replyTo;
    if (!replyTo) return;
    if (replyTo.exchange !== REPLY_EXCHANGE) {
      this.#options.logger.warn('not replying to a remote-control command: its reply exchange is not reply.celery.pidbox', { method: request.method, exchange: replyTo.exchange });
      return;
    }
    const body = Buffer.from(JSON.stringify({ [this.#options.worker.target().name]: reply }));
    try {
      channel.publish(replyTo.exchange, replyTo.routingKey, body, {
        contentType: CONTENT_TYPE,
        contentEncoding: CONTENT_ENCODING,
        deliveryMode: 1,
        headers: { ticket: request.ticket ?? null, clock: ++this.#clock },
      });
    } catch (err) {
      this.#options.logger.warn('could not reply to a remote-control command (the channel closed)', { method: request.method, err });
    }
  }

  /** Stops answering: the mailbox queue goes away with its consumer. Safe to call twice. */
  async close(): Promise<void> {
    await this.#managed?.close();
    await this.#queue;
  }
}
