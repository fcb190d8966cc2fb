/**
 * `celerity/http`: the typed HTTP client for browsers and Node (20+), built on `fetch` alone.
 *
 *   import { createHttpClient } from 'celerity/http';
 *   const api = createHttpClient<typeof import('./tasks.js')>({ baseUrl, apiKey });
 *   const task = await api.submit('demo.add', [1, 2]);     // typed from the task's schemas
 *   const done = await api.wait(task);                      // done.result: number
 *   for await (const event of api.events(task.id)) { ... }  // Server-Sent Events
 *
 * It imports nothing at run time (its types come from the package's types), so a bundler
 * takes only this folder.
 */
import type { SubmitCall, SubmitResult, TaskNameOf } from '../client/index.js';
import { CelerityHttpError, errorFromResponse, isAbort } from './errors.js';
import { readEvents, type TaskEvent } from './sse.js';
import type { EventsOptions, HttpClientOptions, HttpSubmitOptions, HttpTask, RequestOptions, WaitOptions } from './types.js';

/** The states a task never leaves (the gateway's own list: core's FINAL_STATES). */
export const FINAL_STATES: ReadonlySet<string> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

const DEFAULT_WAIT_S = 60;
const DEFAULT_POLL_S = 25;
const DEFAULT_RECONNECTS = 5;
/** Pause before reconnecting a broken stream, unless the stream said otherwise (`retry:`). */
const DEFAULT_RETRY_MS = 1000;

type Json = Record<string, unknown>;

/** A task as `submit` answered it (then `R`, its result type, carries over), or its id. */
type TaskRef<R> = string | HttpTask<R> | { id: string };

/** Splits `submit`'s rest parameters into args, kwargs and options, for both shapes of call. */
function submitParts(style: unknown[]): { args?: unknown; kwargs?: unknown; options: HttpSubmitOptions } {
  const [first, second, third] = style;
  // One-object tasks: (input, options?); positional ones: (args?, kwargs?, options?).
  if (first !== undefined && !Array.isArray(first)) return { kwargs: first, options: (second ?? {}) };
  return { args: first, kwargs: second, options: (third ?? {}) };
}

function seconds(value: number): string {
  return Math.max(0.001, value).toFixed(3);
}

export class HttpClient<App = unknown> {
  readonly #base: string;
  readonly #options: HttpClientOptions;

  constructor(options: HttpClientOptions = {}) {
    this.#base = (options.baseUrl ?? '').replace(/\/+$/, '');
    this.#options = options;
  }

  /** One request; answers the parsed JSON of a 2xx, throws a CelerityHttpError otherwise. */
  async #request<T>(method: 'GET' | 'POST', path: string, init: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal | undefined } = {}): Promise<{ status: number; headers: Headers; body: T }> {
    const response = await this.#fetch(method, path, { accept: 'application/json', ...init });
    if (!response.ok) throw await errorFromResponse(response);
    try {
      return { status: response.status, headers: response.headers, body: (await response.json()) as T };
    } catch (cause) {
      if (isAbort(cause, init.signal)) throw cause;
      throw new CelerityHttpError('INVALID_RESPONSE', `HTTP ${response.status} with a body that is not JSON`, { status: response.status, cause });
    }
  }

  async #fetch(method: 'GET' | 'POST', path: string, init: { accept: string; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal | undefined }): Promise<Response> {
    const headers: Record<string, string> = { Accept: init.accept, ...init.headers };
    if (this.#options.apiKey !== undefined) headers.Authorization = `Bearer ${this.#options.apiKey}`;
    if (init.body !== undefined) headers['Content-Type'] = 'application/json';
    const request: RequestInit = {
      method,
      headers,
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
      ...(this.#options.credentials ? { credentials: this.#options.credentials } : {}),
    };
    try {
      return await (this.#options.fetch ?? globalThis.fetch)(this.#base + path, request);
    } catch (cause) {
      if (isAbort(cause, init.signal)) throw init.signal?.reason ?? cause;
      throw new CelerityHttpError('NETWORK_ERROR', `No answer from ${this.#base || 'the gateway'}: ${(cause as Error).message}`, { status: 0, cause });
    }
  }

  /**
   * Submits task `name` (`POST /api/v1/tasks/{name}`): a one-object task takes `(input, options?)`,
   * a positional one `(args?, kwargs?, options?)`. Resolves once the broker confirmed the task
   * (`202`), or with `waitS` once it finished within that time; with `dedupe`, perhaps with an
   * earlier task of its key (`deduplicated: true`).
   */
  async submit<const N extends TaskNameOf<App>>(name: N, ...call: SubmitCall<App, N, HttpSubmitOptions>): Promise<HttpTask<SubmitResult<App, N>>> {
    const { args, kwargs, options } = submitParts(call);
    const { signal, idempotencyKey, waitS, ...submitOptions } = options;
    const body: Json = {
      ...(args !== undefined ? { args } : {}),
      ...(kwargs !== undefined ? { kwargs } : {}),
      ...(Object.keys(submitOptions).length > 0 ? { options: submitOptions } : {}),
    };
    const query = waitS !== undefined && waitS > 0 ? `?wait=${seconds(waitS)}` : '';
    const answer = await this.#request<HttpTask<SubmitResult<App, N>>>('POST', `/api/v1/tasks/${encodeURIComponent(name)}${query}`, {
      body,
      signal,
      ...(idempotencyKey !== undefined ? { headers: { 'Idempotency-Key': idempotencyKey } } : {}),
    });
    // options.dedupe returned an earlier task: said by a header, told the caller in the task.
    return answer.headers.get('Deduplicated') === 'true' ? { ...answer.body, deduplicated: true } : answer.body;
  }

  /** The task as it stands (`GET /api/v1/tasks/{id}`); `TASK_NOT_FOUND` for an unknown id or another key's task. */
  async get<R = unknown>(task: TaskRef<R>, options: RequestOptions = {}): Promise<HttpTask<R>> {
    return (await this.#request<HttpTask<R>>('GET', `/api/v1/tasks/${encodeURIComponent(idOf(task))}`, { signal: options.signal })).body;
  }

  /**
   * Waits for the task's final state (`SUCCESS`, `FAILURE`, `REVOKED`) by long-polling; after
   * `timeoutS` resolves with the task as it stands (check `state`). Never throws for a failed task.
   */
  async wait<R = unknown>(task: TaskRef<R>, options: WaitOptions = {}): Promise<HttpTask<R>> {
    const id = encodeURIComponent(idOf(task));
    const deadline = Date.now() + (options.timeoutS ?? DEFAULT_WAIT_S) * 1000;
    const pollS = this.#options.pollS ?? DEFAULT_POLL_S;
    for (;;) {
      const leftS = (deadline - Date.now()) / 1000;
      const query = leftS > 0 ? `?wait=${seconds(Math.min(leftS, pollS))}` : '';
      const { body } = await this.#request<HttpTask<R>>('GET', `/api/v1/tasks/${id}${query}`, { signal: options.signal });
      if (FINAL_STATES.has(body.state) || leftS <= 0) return body;
    }
  }

  /**
   * Revokes the task (`POST /api/v1/tasks/{id}/revoke`): not started yet, it never runs; with
   * `terminate`, a running task is stopped. Resolves with the task afterwards.
   */
  async revoke<R = unknown>(task: TaskRef<R>, options: RequestOptions & { terminate?: boolean } = {}): Promise<HttpTask<R>> {
    const body = options.terminate !== undefined ? { terminate: options.terminate } : {};
    return (await this.#request<HttpTask<R>>('POST', `/api/v1/tasks/${encodeURIComponent(idOf(task))}/revoke`, { body, signal: options.signal })).body;
  }

  /**
   * The task's events (`GET /api/v1/tasks/{id}/events`, Server-Sent Events), as an async
   * iterator that ends after the final state. A broken stream is reopened with `Last-Event-ID`.
   */
  async *events<D = unknown>(task: TaskRef<unknown>, options: EventsOptions = {}): AsyncGenerator<TaskEvent<D>> {
    const path = `/api/v1/tasks/${encodeURIComponent(idOf(task))}/events`;
    let lastEventId = options.lastEventId;
    let retryMs = DEFAULT_RETRY_MS;
    let failures = 0;
    const onField = (field: 'id' | 'retry', value: string) => {
      if (field === 'id') lastEventId = value;
      else retryMs = Number(value);
    };
    for (;;) {
      const headers: Record<string, string> = lastEventId !== undefined ? { 'Last-Event-ID': lastEventId } : {};
      const response = await this.#fetch('GET', path, { accept: 'text/event-stream', headers, signal: options.signal });
      if (!response.ok) throw await errorFromResponse(response);
      if (response.status === 204) return; // the stream had already ended (resumed after the final state)
      if (!response.body) throw new CelerityHttpError('INVALID_RESPONSE', 'The event stream has no body', { status: response.status });
      try {
        for await (const event of readEvents(response.body, onField)) {
          failures = 0;
          yield event as TaskEvent<D>;
        }
        return; // the gateway closed the stream: the task is final
      } catch (err) {
        if (isAbort(err, options.signal)) throw options.signal?.reason ?? err;
        if (++failures > (options.maxReconnects ?? DEFAULT_RECONNECTS)) {
          throw new CelerityHttpError('NETWORK_ERROR', `The event stream broke ${failures} times in a row`, { status: 0, cause: err });
        }
        await pause(retryMs, options.signal);
      }
    }
  }
}

function idOf(task: TaskRef<unknown>): string {
  return typeof task === 'string' ? task : task.id;
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A client of the gateway at `baseUrl`; type it with the app's module: `createHttpClient<typeof import('./tasks.js')>(...)`. */
export function createHttpClient<App = unknown>(options: HttpClientOptions = {}): HttpClient<App> {
  return new HttpClient<App>(options);
}
