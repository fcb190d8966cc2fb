/**
 * Structured logs (winston): JSON lines when not on a terminal (production, CI), readable
 * colourised lines on a terminal. Passwords in URLs, bearer tokens and API key secrets are
 * redacted from every line.
 */
import winston from 'winston';
import type { LogLevel } from './config.js';

export type Logger = winston.Logger;

// The password runs to the LAST '@' of the authority: URL parsers (and amqplib) accept a raw
// '@' inside a password, so stopping at the first one would print the rest of it.
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^/?#\s]*@/gi;

// `Authorization: Bearer <token>` (API keys, METRICS_TOKEN) and Basic credentials.
const AUTH_HEADER_VALUE = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
// A Celerity API key anywhere in a text: the id stays (it names the key), the secret goes.
const API_KEY = /\b(cel_[0-9a-f]{12}_)[A-Za-z0-9_-]+/g;
/** Metadata keys whose values are credentials whatever they look like. */
const SECRET_KEYS = /^(authorization|cookie|set-cookie|password|passphrase|secret|token|api[-_]?key|metrics[-_]?token)$/i;

/** Replaces URL passwords, bearer tokens and API key secrets in `text` with `***`. */
export function redactSecrets(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1:***@').replace(AUTH_HEADER_VALUE, '$1 ***').replace(API_KEY, '$1***');
}

/** `amqp://guest:guest@host` → `amqp://guest:***@host`, for log lines and error messages. */
export function redactUrl(url: string): string {
  return redactSecrets(url);
}

/** Deeper metadata than this is cut rather than printed unchecked. */
const MAX_DEPTH = 8;

function serialiseError(err: Error): Record<string, unknown> {
  return {
    type: err.name,
    message: redactSecrets(err.message),
    code: (err as { code?: unknown }).code,
    stack: err.stack === undefined ? undefined : redactSecrets(err.stack),
  };
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[nested too deep]';
  // Errors anywhere in the metadata: only name, message, code and stack, all redacted (their
  // other fields may hold inputs, such as the full URL of a failed `new URL()`).
  if (value instanceof Error) return serialiseError(value);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.test(k) && v != null ? '***' : redactValue(v, depth + 1);
  return out;
}

const redact = winston.format((info) => {
  const record = info as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = SECRET_KEYS.test(key) && record[key] != null ? '***' : redactValue(record[key], 0);
  // An Error logged on its own keeps message and stack as non-enumerable own properties.
  if (typeof record.message === 'string') record.message = redactSecrets(record.message);
  if (typeof record.stack === 'string') record.stack = redactSecrets(record.stack);
  return info;
});

/** `logger.error(err)`: make the error's message and stack ordinary (enumerable) fields. */
const errors = winston.format.errors({ stack: true });


export interface LoggerOptions {
  service: string;
  level: LogLevel;
  /** JSON lines (default when stdout is not a terminal) or human-readable lines. */
  json?: boolean;
  /** Extra transports, e.g. a capture stream in tests. Replaces the console transport. */
  transports?: winston.transport[];
}

export function createLogger(options: LoggerOptions): Logger {
  const json = options.json ?? !process.stdout.isTTY;
  const format = json
    ? winston.format.combine(errors, redact(), winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        errors,
        redact(),
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.colorize(),
        winston.format.printf(({ timestamp, level, message, service, ...rest }) => {
          const meta = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
          return `${String(timestamp)} ${String(service)} ${level}: ${String(message)}${meta}`;
        }),
      );
  return winston.createLogger({
    level: options.level,
    defaultMeta: { service: options.service },
    format,
    transports: options.transports ?? [new winston.transports.Console()],
  });
}

/** A logger that drops everything: for unit tests and library defaults. */
export function createSilentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
