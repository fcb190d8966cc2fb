/** Reads a Server-Sent Events response with fetch, as a browser's EventSource would parse it. */

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: unknown;
}

export interface SseStream {
  status: number;
  /** The response's headers. */
  headers: Headers;
  /** Every event received so far, in order. */
  events: SseEvent[];
  /** Comment lines (heartbeats) received so far. */
  comments: string[];
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** Resolves once `predicate` holds for the events received. */
  until(predicate: (events: SseEvent[]) => boolean): Promise<void>;
  /** Cuts the connection (as a client that goes away). */
  cut(): void;
}

/** Opens `url`; resolves once the response headers arrived. A non-200 answer has no events. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters: { predicate: (events: SseEvent[]) => boolean; resolve: () => void; reject: (err: Error) => void }[] = [];
  let done = false;
  const check = (): void => {
    for (const waiter of [...waiters]) {
      if (waiter.predicate(events)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      } else if (done) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.reject(new Error(`the stream ended first; events: ${JSON.stringify(events)}`));
      }
    }
  };
  const read = async (): Promise<void> => {
    if (res.status !== 200 || !res.body) {
      await res.text().catch(() => undefined);
      return;
    }
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id: string | undefined;
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) events.push({ id, event, data: JSON.parse(data.join('\n')) });
        }
        check();
      }
    } catch {
      // cut by us
    }
  };
  const ended = read().finally(() => {
    done = true;
    check();
  });
  return {
    status: res.status,
    headers: res.headers,
    events,
    comments,
    ended,
    until: (predicate) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ predicate, resolve, reject });
        check();
      }),
    cut: () => controller.abort(),
  };
}
