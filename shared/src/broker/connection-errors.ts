/**
 * What the broker's refusals mean for a connection: which reply codes no retry can fix, how a
 * refused handshake is read, and the errors `Broker.create` fails with.
 */

/**
 * AMQP reply codes that no retry can fix: fail fast instead of reconnecting forever.
 *   403 ACCESS_REFUSED  wrong user or password, or no permission on the vhost
 *   530 NOT_ALLOWED     the vhost does not exist (or the user may not open it)
 */
export const IRRECOVERABLE_CODES = new Set([403, 530]);

/**
 * Errors after which reconnecting only repeats the failure: refused credentials, and a setup
 * refused with 406 PRECONDITION_FAILED because a queue exists with other arguments
 * (QueueMismatchError, code QUEUE_MISMATCH; see topology.ts). Checked by code: the error may
 * come from any setup function.
 */
export function isIrrecoverable(err: unknown): boolean {
  return err instanceof BrokerAuthError || (err as { code?: unknown } | undefined)?.code === 'QUEUE_MISMATCH';
}

/**
 * amqplib rejects a failed handshake with a plain Error that has no `code`: the reply code
 * only appears in its text ("Handshake terminated by server: 403 (ACCESS-REFUSED) …"), and a
 * refused vhost shows as "Expected ConnectionOpenOk; got <ConnectionClose …>". This is the
 * one place that reads it from there.
 */
export function handshakeReplyCode(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const code: unknown = (err as Error & { code?: unknown }).code;
  if (typeof code === 'number') return code;
  const terminated = /^Handshake terminated by server: (\d{3})/.exec(err.message);
  if (terminated?.[1]) return Number(terminated[1]);
  if (err.message.startsWith('Expected ConnectionOpenOk; got <ConnectionClose')) return 530;
  return undefined;
}

export class BrokerAuthError extends Error {
  override readonly name = 'BrokerAuthError';
  readonly code = 'BROKER_AUTH';
}

export class BrokerUnreachableError extends Error {
  override readonly name = 'BrokerUnreachableError';
  readonly code = 'BROKER_UNREACHABLE';
}

