/**
 * Server-Sent Events read from a `fetch` body (not `EventSource`, which can send neither an
 * `Authorization` header nor a chosen `Last-Event-ID`). Parsing follows the HTML standard's
 * event-stream rules: `event`, `data` (lines joined by "\n"), `id`, `retry`; comment lines are
 * heartbeats; a blank line dispatches.
 */

/** One event of a task's stream; `data` is parsed JSON (the text itself if it is not JSON). */
export interface TaskEvent<D = unknown> {
  /** The event's id: pass it as `lastEventId` to resume after it. */
  id: string | undefined;
  /** The event's type (`message` when the stream named none). */
  event: string;
  data: D;
}

interface Pending {
  event: string;
  data: string[];
}

function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Splits one stream into events; also reports `id` and `retry` fields as they pass. */
export async function* readEvents(
  body: ReadableStream<Uint8Array>,
  onField: (field: 'id' | 'retry', value: string) => void,
): AsyncGenerator<TaskEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let pending: Pending = { event: '', data: [] };
  let lastId: string | undefined;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      // The last piece may be a line cut in two (or a lone "\r" of a "\r\n" still to come).
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') {
          if (pending.data.length > 0) yield { id: lastId, event: pending.event || 'message', data: parseData(pending.data.join('\n')) };
          pending = { event: '', data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') pending.event = value;
        else if (field === 'data') pending.data.push(value);
        else if (field === 'id' && !value.includes('\0')) {
          lastId = value;
          onField('id', value);
        } else if (field === 'retry' && /^\d+$/.test(value)) onField('retry', value);
      }
    }
  } finally {
    // Ends the request too when the caller stops early (break, return, throw).
    await reader.cancel().catch(() => undefined);
  }
}
