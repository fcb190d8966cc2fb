/**
 * Structured logs (winston): JSON lines when not on a terminal (production, CI), readable
 * lines on a terminal (pretty-log.ts), LOG_FORMAT choosing either. Passwords in URLs, bearer tokens and API key secrets are
 * redacted from every line.
 */
import winston from 'winston';
import { renderPretty } from './pretty-log.js';

export type Logger = winston.Logger;

export const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['json', 'pretty'] as const;
/** `json`: one JSON object a line; `pretty`: a readable line, stacks on lines of their own. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * `scheme://user:password@` → `scheme://user:***@`, in one left-to-right pass.
 *
 * The password runs to the LAST '@' of the authority: URL parsers (and amqplib) accept a raw
 * '@' inside a password, so stopping at the first one would print the rest of it. This was a
 * regular expression, /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^/?#\s]*@/gi, whose engine
 * retried the scheme at every letter of a long word: quadratic on user text (a 200 kB error
 * message took about 40 s). Same matches, linear: each `://` is found once, its scheme is
 * read backwards no further than the previous `://`, and its authority forwards no further
 * than the next `/` (which the next `://` starts with).
 */
export function redactUrlCredentials(text: string): string {
  let out = '';
  let copied = 0;
  let floor = 0;
  for (let sep = text.indexOf('://'); sep !== -1; sep = text.indexOf('://', sep + 3)) {
    // The scheme: the longest run of [a-z0-9+.-] before `://` that starts with a letter.
    let start = sep;
    let schemeStart = -1;
    while (start > floor && isSchemeChar(text.charCodeAt(start - 1))) {
      start--;
      if (isLetter(text.charCodeAt(start))) schemeStart = start;
    }
    floor = sep + 3;
    if (schemeStart === -1) continue;
    // The user: up to ':' (no '@', '/', '?', '#' or space on the way).
    let i = sep + 3;
    while (i < text.length && !isUserStop(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== COLON) continue;
    const colon = i;
    // The password: to the last '@' before the authority ends.
    let at = -1;
    for (i = colon + 1; i < text.length && !isAuthorityEnd(text.charCodeAt(i)); i++) if (text.charCodeAt(i) === AT) at = i;
    if (at === -1) continue;
    out += `${text.slice(copied, colon)}:***@`;
    copied = at + 1;
    floor = at + 1;
    sep = Math.max(sep, at - 2);
  }
  return copied === 0 ? text : out + text.slice(copied);
}

const COLON = 0x3a;
const AT = 0x40;

function isLetter(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}

function isSchemeChar(c: number): boolean {
  return isLetter(c) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2e || c === 0x2d;
}

const SPACE = /\s/;

/** What `\s` matches in a regular expression. */
function isSpace(c: number): boolean {
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  return SPACE.test(String.fromCharCode(c));
}

/** Ends the authority: '/', '?', '#' or white space. */
function isAuthorityEnd(c: number): boolean {
  return c === 0x2f || c === 0x3f || c === 0x23 || isSpace(c);
}

function isUserStop(c: number): boolean {
  return c === COLON || c === AT || isAuthorityEnd(c);
}

// `Authorization: Bearer <token>` (API keys, METRICS_TOKEN) and Basic credentials.
const AUTH_HEADER_VALUE = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
// A Celerity API key anywhere in a text: the id stays (it names the key), the secret goes.
const API_KEY = /\b(cel_[0-9a-f]{12}_)[A-Za-z0-9_-]+/g;
/** Metadata keys whose values are credentials whatever they look like. */
const SECRET_KEYS = /^(authorization|cookie|set-cookie|password|passphrase|secret|token|api[-_]?key|metrics[-_]?token)$/i;

/** Replaces URL passwords, bearer tokens and API key secrets in `text` with `***`. */
export function redactSecrets(text: string): string {
  return redactUrlCredentials(text).replace(AUTH_HEADER_VALUE, '$1 ***').replace(API_KEY, '$1***');
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
  /**
   * `json` (one object a line) or `pretty` (readable lines, stacks on lines of their own); the
   * same fields in both. @default pretty when stdout is a terminal, JSON otherwise (LOG_FORMAT)
   */
  format?: LogFormat;
  /** Shorthand for `format`: true = json, false = pretty. `format` wins when both are given. */
  json?: boolean;
  /** Colour the level in pretty lines. @default on a terminal (NO_COLOR / FORCE_COLOR decide in the config) */
  color?: boolean;
  /** Extra transports, e.g. a capture stream in tests. Replaces the console transport. */
  transports?: winston.transport[];
  /** Every level to stderr (commands whose stdout is their output). @default false: stdout */
  stderr?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const json = options.format !== undefined ? options.format === 'json' : (options.json ?? !process.stdout.isTTY);
  const colour = options.color ?? process.stdout.isTTY === true;
  const format = json
    ? winston.format.combine(errors, redact(), winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        errors,
        redact(),
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.printf((entry) => renderPretty(entry, colour)),
      );
  return winston.createLogger({
    level: options.level,
    defaultMeta: { service: options.service },
    format,
    transports: options.transports ?? [new winston.transports.Console(options.stderr ? { stderrLevels: [...LOG_LEVELS] } : {})],
  });
}

/** A logger that drops everything: for unit tests and library defaults. */
export function createSilentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}

/** The logger a process's settings ask for: LOG_LEVEL, LOG_FORMAT, NO_COLOR / FORCE_COLOR. */
export function loggerFromConfig(service: string, config: { logLevel: LogLevel; logFormat?: LogFormat; logColor?: boolean }, options: { stderr?: boolean } = {}): Logger {
  return createLogger({
    service,
    ...(options.stderr ? { stderr: true } : {}),
    level: config.logLevel,
    ...(config.logFormat ? { format: config.logFormat } : {}),
    ...(config.logColor !== undefined ? { color: config.logColor } : {}),
  });
}
