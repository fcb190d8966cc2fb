/**
 * Revokes told to running workers at once, on the fanout exchange `celerity.revoke`
 * (topology.ts). A notice is advisory: the revoke is already durable in PostgreSQL when it is
 * sent, and a worker that misses it (disconnected, not started yet) still refuses the task at
 * its claim, and reloads the recent revokes after a reconnect. So a notice is published
 * without `mandatory` (no worker listening is not an error) and not persistent.
 */
import { randomUUID } from 'node:crypto';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { CelerityError, jsonObjectOf, type Logger } from '../core/index.js';
import { applyTopology } from './apply-topology.js';
import type { Broker } from './connection.js';
import { ManagedChannel } from './managed-channel.js';
import { REVOKE_EXCHANGE, REVOKE_QUEUE_PREFIX, revokeTopology } from './topology.js';

/** One revoke as broadcast. `origin`: the sender's name (a worker ignores its own notices). */
export interface RevokeNotice {
  ids: string[];
  terminate: boolean;
  reason?: string;
  origin?: string;
}

/** Most ids in one notice: a longer list is sent as several notices. */
const MAX_IDS_PER_NOTICE = 1_000;
/** Longest id accepted in a notice (Celery's are UUIDs). */
const MAX_ID_CHARS = 255;

export function encodeRevokeNotice(notice: RevokeNotice): Buffer {
  return Buffer.from(JSON.stringify(notice));
}

/** The notice in `content`, or undefined when it is not one (logged and dropped by the listener). */
export function decodeRevokeNotice(content: Buffer): RevokeNotice | undefined {
  const body = jsonObjectOf(content);
  if (!body) return undefined;
  const { ids, terminate, reason, origin } = body;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_IDS_PER_NOTICE) return undefined;
  if (!ids.every((id): id is string => typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_CHARS)) return undefined;
  return {
    ids,
    terminate: terminate === true,
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(typeof origin === 'string' ? { origin } : {}),
  };
}

/** Sends revoke notices; one per process that revokes (gateway, client, CLI, worker). */
export class RevokeBroadcaster {
  private constructor(private readonly managed: ManagedChannel<ConfirmChannel>) {}

  static async create(broker: Broker, logger: Logger): Promise<RevokeBroadcaster> {
    const managed = await ManagedChannel.openConfirm(broker, {
      name: 'revoke broadcast channel',
      logger,
      setup: async (channel) => {
        await applyTopology(channel, revokeTopology());
      },
    });
    return new RevokeBroadcaster(managed);
  }

  /** Resolves once the broker took every notice; rejects with BROKER_UNAVAILABLE when it cannot. */
  async send(notice: RevokeNotice): Promise<void> {
    for (let i = 0; i < notice.ids.length; i += MAX_IDS_PER_NOTICE) {
      const part = { ...notice, ids: notice.ids.slice(i, i + MAX_IDS_PER_NOTICE) };
      const channel = this.managed.channel;
      if (!channel) throw new CelerityError('BROKER_UNAVAILABLE', 'Broker unavailable: the revoke could not be broadcast (not connected)', { retryAfterS: 1 });
      await new Promise<void>((resolve, reject) => {
        channel.publish(REVOKE_EXCHANGE, '', encodeRevokeNotice(part), { contentType: 'application/json', persistent: false }, (err: unknown) =>
          err ? reject(new CelerityError('BROKER_UNAVAILABLE', 'Broker unavailable: the revoke broadcast was not accepted', { cause: err, retryAfterS: 1 })) : resolve(),
        );
      });
    }
  }

  /** Safe to call twice. */
  async close(): Promise<void> {
    await this.managed.close();
  }
}

export interface RevokeListenerOptions {
  logger: Logger;
  onNotice: (notice: RevokeNotice) => void;
  /** Each time the listener is subscribed (start, and after every reconnect): what was missed meanwhile is the store's. */
  onReady?: () => void;
}

/** A worker's subscription to revoke notices: its own exclusive queue (`celerity.revoke.<uuid>`), a new one at every (re)connect. */
export class RevokeListener {
  private constructor(private readonly managed: ManagedChannel) {}

  static async create(broker: Broker, options: RevokeListenerOptions): Promise<RevokeListener> {
    const { logger } = options;
    const managed = await ManagedChannel.open(broker, {
      name: 'revoke listener channel',
      logger,
      ...(options.onReady ? { onReady: () => options.onReady?.() } : {}),
    });
    // A new name at every (re)connect: the broker may not have deleted the last connection's
    // exclusive queue yet, and declaring that name again would be refused (RESOURCE_LOCKED).
    const declare = async (channel: Channel): Promise<string> => {
      const name = `${REVOKE_QUEUE_PREFIX}${randomUUID()}`;
      await applyTopology(channel, revokeTopology(name));
      return name;
    };
    const onMessage = (message: ConsumeMessage): void => {
      const notice = decodeRevokeNotice(message.content);
      if (!notice) {
        logger.warn('dropping a message on the revoke exchange that is not a revoke notice', { bytes: message.content.length });
        return;
      }
      options.onNotice(notice);
    };
    await managed.consume(declare, onMessage, { noAck: true, onCancel: () => logger.warn('the broker cancelled the revoke listener; re-subscribing') });
    return new RevokeListener(managed);
  }

  /** Safe to call twice. */
  async close(): Promise<void> {
    await this.managed.close();
  }
}
