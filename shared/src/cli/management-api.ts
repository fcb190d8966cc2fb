/**
 * Unacknowledged messages of a queue, which AMQP does not tell (a passive declare counts only
 * ready ones): read from the RabbitMQ management API when RABBITMQ_MANAGEMENT_URL points at it
 * (`http://user:password@host:15672`), else unknown (null).
 */
import type { Env } from '../config/index.js';
import { redactUrl, type Logger } from '../core/index.js';

/** The vhost of an AMQP URL: its path, `/` when it has none. */
export function vhostOf(amqpUrl: string): string {
  const path = new URL(amqpUrl).pathname;
  return path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
}

/** Messages of `queue` delivered and not yet acked, or null when the management API is not configured or does not answer. */
export async function unackedCount(env: Env, queue: string, logger: Logger, vhost = '/'): Promise<number | null> {
  const base = env.RABBITMQ_MANAGEMENT_URL?.trim();
  if (!base) return null;
  let url: URL;
  try {
    url = new URL(`api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`, base.endsWith('/') ? base : `${base}/`);
  } catch {
    logger.warn('RABBITMQ_MANAGEMENT_URL is not a URL; unacked counts are unknown', { url: redactUrl(base) });
    return null;
  }
  // fetch refuses credentials in the URL: they go in the header.
  const auth = url.username !== '' ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}` : undefined;
  url.username = '';
  url.password = '';
  try {
    const res = await fetch(url, { headers: auth ? { authorization: auth } : {}, signal: AbortSignal.timeout(5_000) });
    if (!res.ok) {
      logger.warn('the RabbitMQ management API refused the queue lookup; unacked is unknown', { status: res.status, queue });
      return null;
    }
    const body = (await res.json()) as { messages_unacknowledged?: unknown };
    return typeof body.messages_unacknowledged === 'number' ? body.messages_unacknowledged : null;
  } catch (err) {
    logger.warn('the RabbitMQ management API did not answer; unacked is unknown', { url: redactUrl(base), err });
    return null;
  }
}
