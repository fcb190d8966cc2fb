/** `celerity/http`: the typed HTTP client for browsers and Node, on `fetch` (docs/http-client.md). */
export { createHttpClient, FINAL_STATES, HttpClient } from './client.js';
export { CelerityHttpError, type HttpErrorCode } from './errors.js';
export type { TaskEvent } from './sse.js';
export type { EventsOptions, HttpClientOptions, HttpSubmitOptions, HttpTask, RequestOptions, WaitOptions } from './types.js';
