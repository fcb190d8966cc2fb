/** The types of the HTTP client: what the gateway answers, and what each call takes. */
import type { TaskState } from '../core/index.js';
import type { SubmitOptions } from '../submit/index.js';

/** A task as the gateway reports it; `R` is what the task returns (typed from the app). */
export interface HttpTask<R = unknown> {
  id: string;
  name: string;
  queue: string;
  state: TaskState;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  /** What the task returned, once `state` is `SUCCESS`. */
  result?: R | null;
  error?: { type: string; message: string } | null;
  retries?: number;
  createdAt?: string | null;
  startedAt?: string | null;
  finishedAt?: string | null;
  worker?: string | null;
  attempts?: number;
  /** Set by `submit` when `options.dedupe` returned this earlier task (the `Deduplicated: true` header). */
  deduplicated?: true;
}

/** What every call takes. */
export interface RequestOptions {
  /** Cancels the request: the call rejects with the signal's reason (an `AbortError` by default). */
  signal?: AbortSignal;
}

/** Options of `submit`: the API's submit options, and how the request itself is made. */
export type HttpSubmitOptions = SubmitOptions &
  RequestOptions & {
    /** The `Idempotency-Key` header: the same key within its window returns the same task. */
    idempotencyKey?: string;
    /** Seconds the gateway holds the request for the task to finish (`?wait=`). @default 0 */
    waitS?: number;
  };

export interface WaitOptions extends RequestOptions {
  /** Seconds to wait for a final state; then the task as it stands is returned. @default 60 */
  timeoutS?: number;
}

export interface EventsOptions extends RequestOptions {
  /** Resume after this event id (the `Last-Event-ID` header). */
  lastEventId?: string;
  /**
   * Reconnections after the stream broke (with the last event's id, so nothing is missed or
   * repeated), counted since the last event received. @default 5
   */
  maxReconnects?: number;
}

export interface HttpClientOptions {
  /** The gateway's address, e.g. `https://tasks.example.com`; `''` is the page's own origin. @default '' */
  baseUrl?: string;
  /** An API key, sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Cookies on cross-origin requests (`include`), e.g. for a dashboard session. @default fetch's own ('same-origin') */
  credentials?: 'omit' | 'same-origin' | 'include';
  /** Longest `?wait=` one request of `wait()` asks for, in seconds (at most the gateway's GATEWAY_MAX_WAIT_SECONDS). @default 25 */
  pollS?: number;
}
