/** The address a request came from, for logs of refused authentications. */
import type { Request } from 'express';

/**
 * `req.ip`: the socket's peer, or with Express's `trust proxy` set, the client a trusted proxy
 * names in X-Forwarded-For. Never a label of a metric (unbounded); logs only.
 */
export function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}
