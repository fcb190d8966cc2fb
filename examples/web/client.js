// The page's whole client: submit a task, then follow its event stream. Small on purpose, so
// it can be swapped for the typed client (celerity/http) without touching app.js's logic.

/** POST /api/v1/tasks/{name}: resolves with the task representation (state PENDING). */
export async function submitTask(gateway, name, args, kwargs, options = {}) {
  const res = await fetch(`${gateway}/api/v1/tasks/${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ args, kwargs, options }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${body.error?.code ?? res.status}: ${body.error?.message ?? res.statusText}`);
  return body;
}

const FINAL = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

/**
 * Follows GET /api/v1/tasks/{id}/events. `on.state(task)`, `on.progress({fraction, message})`,
 * `on.output({chunk})`, `on.log({level, message})`. EventSource reconnects by itself with
 * Last-Event-ID; the stream is closed here after the final state. Returns a function that stops.
 */
export function watchTask(gateway, id, on) {
  const source = new EventSource(`${gateway}/api/v1/tasks/${encodeURIComponent(id)}/events`);
  const listen = (kind, handler) => source.addEventListener(kind, (event) => handler?.(JSON.parse(event.data)));
  listen('state', (task) => {
    on.state?.(task);
    if (FINAL.has(task.state)) source.close();
  });
  listen('progress', on.progress);
  listen('output', on.output);
  listen('log', on.log);
  return () => source.close();
}
