/**
 * Step 1 of the pipeline: bytes to a task message, or the reason they are not one.
 */
import { MessageFormatError, decodeTaskMessage, type TaskMessage } from '../../../shared/src/broker/index.js';
import type { Delivery } from './types.js';

export type Decoded = { kind: 'task'; message: TaskMessage } | { kind: 'malformed'; error: MessageFormatError };

/** Decodes a delivery; anything but a MessageFormatError is a bug and is thrown. */
export function decode(delivery: Delivery): Decoded {
  try {
    return { kind: 'task', message: decodeTaskMessage(delivery.content, delivery.properties) };
  } catch (err) {
    if (!(err instanceof MessageFormatError)) throw err;
    return { kind: 'malformed', error: err };
  }
}
