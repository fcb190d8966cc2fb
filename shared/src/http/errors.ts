/** The HTTP client's one error: the gateway's stable code, or the client's own for what never got an answer. */
import type { ErrorCode } from '../core/index.js';

/**
 * What a caller branches on: the gateway's stable codes (`{"error": {"code"}}`), plus
 * `NETWORK_ERROR` (no answer: the gateway is unreachable, or CORS refused the page) and
 * `INVALID_RESPONSE` (an answer that is not the API's JSON, e.g. a proxy's error page).
 */
export type HttpErrorCode = ErrorCode | 'NETWORK_ERROR' | 'INVALID_RESPONSE';

export class CelerityHttpError extends Error {
  override readonly name = 'CelerityHttpError';
  /** The stable code; a gateway newer than this client may send one not in the union yet. */
  readonly code: HttpErrorCode;
  /** The HTTP status, or 0 when no answer came. */
  readonly status: number;
  /** Seconds to wait before trying again (`Retry-After`), when the gateway said. */
  readonly retryAfterS: number | undefined;

  constructor(code: HttpErrorCode, message: string, options: { status: number; retryAfterS?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.retryAfterS = options.retryAfterS;
  }
}

/** The error an answer that is not 2xx stands for. */
export async function errorFromResponse(response: Response): Promise<CelerityHttpError> {
  const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
  const extra = { status: response.status, ...(Number.isFinite(retryAfter) ? { retryAfterS: retryAfter } : {}) };
  let body: unknown;
  try {
    body = await response.json();
  } catch (cause) {
    return new CelerityHttpError('INVALID_RESPONSE', `HTTP ${response.status} without the API's error body`, { ...extra, cause });
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (typeof error?.code !== 'string') return new CelerityHttpError('INVALID_RESPONSE', `HTTP ${response.status} without the API's error body`, extra);
  return new CelerityHttpError(error.code as HttpErrorCode, typeof error.message === 'string' ? error.message : error.code, extra);
}

/** Whether `err` is the rejection of an aborted request (the caller's signal), which is passed on as it is. */
export function isAbort(err: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (err as { name?: unknown } | null)?.name === 'AbortError';
}
