/** Maps every error to the API's error body: `{"error": {"code", "message"}}`, never a stack. */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { CelerityError, type ErrorCode, type Logger } from '../../shared/src/core/index.js';

/** body-parser's stable `type` values for the errors it raises. */
const BODY_PARSER_ERRORS: Record<string, { code: ErrorCode; message: string }> = {
  'entity.parse.failed': { code: 'MALFORMED_JSON', message: 'The request body is not valid JSON' },
  'entity.too.large': { code: 'PAYLOAD_TOO_LARGE', message: 'The request body is larger than the limit' },
  'charset.unsupported': { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported charset: send UTF-8 JSON' },
  'encoding.unsupported': { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported content encoding' },
  'request.aborted': { code: 'INVALID_REQUEST', message: 'The request was aborted' },
  'request.size.invalid': { code: 'INVALID_REQUEST', message: 'The request body does not match its Content-Length' },
};

function toCelerityError(err: unknown): CelerityError | undefined {
  if (err instanceof CelerityError) return err;
  const type = (err as { type?: unknown } | null)?.type;
  if (typeof type === 'string') {
    const known = BODY_PARSER_ERRORS[type];
    if (known) return new CelerityError(known.code, known.message, { cause: err });
  }
  // Express and its parsers mark client errors with a 4xx `status` (e.g. a path that is not
  // valid percent-encoding): a 400 with a fixed text, never their message, which echoes input.
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new CelerityError('INVALID_REQUEST', 'The request is malformed', { cause: err });
  }
  return undefined;
}

export function sendError(res: Parameters<RequestHandler>[1], err: CelerityError): void {
  if (err.retryAfterS !== undefined) res.setHeader('Retry-After', String(err.retryAfterS));
  res.status(err.status).json({ error: { code: err.code, message: err.message } });
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    const known = toCelerityError(err);
    if (known) {
      if (known.status >= 500) logger.warn('request failed', { method: req.method, path: req.path, code: known.code, err: known.cause ?? known });
      return sendError(res, known);
    }
    logger.error('unhandled error in request', { method: req.method, path: req.path, err });
    sendError(res, new CelerityError('INTERNAL', 'Internal error'));
  };
}

export const notFound: RequestHandler = (req, res) => {
  sendError(res, new CelerityError('ROUTE_NOT_FOUND', `No route for ${req.method} ${req.path}`));
};
