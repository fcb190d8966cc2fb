// The page's client: the typed HTTP client `celerity/http`, which runs in a browser as it is
// (ES modules on fetch, nothing else). With no build step the page imports its compiled files
// from ./celerity-http/: copy them there from the package (node_modules/celerity/dist/shared/src/http/,
// or dist/shared/src/http/ in this repository after `npm run build`). With a bundler, import
// `createHttpClient` from 'celerity/http' instead.
import { createHttpClient } from './celerity-http/index.js';

const clients = new Map();

/** One client per gateway URL ('' = the origin this page came from). */
function api(gateway) {
  if (!clients.has(gateway)) clients.set(gateway, createHttpClient({ baseUrl: gateway }));
  return clients.get(gateway);
}

/** Submits a task: resolves with its representation (state PENDING), or rejects with the gateway's error. */
export function submitTask(gateway, name, args, kwargs, options = {}) {
  return api(gateway).submit(name, args, kwargs, options);
}

/**
 * Follows the task's event stream until its final state: `on.state(task)`,
 * `on.progress({fraction, message})`, `on.output({chunk})`, `on.log({level, message})`,
 * `on.error(err)`. The client resumes a broken stream with Last-Event-ID by itself. Returns a
 * function that stops following.
 */
export function watchTask(gateway, id, on) {
  const stop = new AbortController();
  (async () => {
    for await (const { event, data } of api(gateway).events(id, { signal: stop.signal })) on[event]?.(data);
  })().catch((err) => {
    if (!stop.signal.aborted) on.error?.(err);
  });
  return () => stop.abort();
}
