/**
 * The signal a held request (`?wait=`) gives its waiter: it fires when the client goes away
 * before the gateway answers. An AbortController per request would do the same, but each
 * AbortSignal is an EventTarget with a hidden class of its own (about 1 KB with its listener
 * map), and 10,000 held requests are the case the gateway's memory is sized for
 * (docs/performance.md, Memory). This is one small object and one closure.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WaitSignal } from '../../shared/src/submit/index.js';

export class ClientGone implements WaitSignal {
  #aborted = false;
  /** Almost always one listener (the waiter); a replayed key's wait may add a second. */
  #listeners: (() => void)[] = [];

  constructor(req: IncomingMessage, res: ServerResponse) {
    const gone = (): void => {
      if (!res.writableFinished) this.#abort();
    };
    // on(), not once(): once() wraps each listener in a bound function and a state object.
    res.on('close', gone);
    req.on('aborted', gone);
    // Made after an await (a read, the body), the request may already be gone: its events fired.
    if ((res.closed || req.socket.destroyed) && !res.writableFinished) this.#aborted = true;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.#aborted) this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.#listeners.indexOf(listener);
    if (i >= 0) this.#listeners.splice(i, 1);
  }

  #abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener();
  }
}
