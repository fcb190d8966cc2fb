/**
 * The human form of a log entry (LOG_FORMAT=pretty): one line with the time, service, level,
 * message and every other field as `key=value` (the same fields as the JSON form), then the
 * stack of each error on lines of its own, indented, as node prints them. Colours only on the
 * level, and only when asked (a terminal, FORCE_COLOR; never with NO_COLOR).
 */

const RESET = '\u001b[0m';
const DIM = '\u001b[2m';
const LEVEL_COLOURS: Readonly<Record<string, string>> = {
  error: '\u001b[31m',
  warn: '\u001b[33m',
  info: '\u001b[32m',
  http: '\u001b[36m',
  verbose: '\u001b[36m',
  debug: '\u001b[34m',
};

/** A value printed bare: no space, quote, `=` or control character, and not empty. */
const BARE = /^[^\s"=\\\p{Cc}]+$/u;

/** An error as the logger's redaction leaves it: `{ type, message, code, stack }`. */
interface LoggedError {
  type?: unknown;
  message?: unknown;
  code?: unknown;
  stack?: unknown;
}

function isLoggedError(value: unknown): value is LoggedError & { stack: string } {
  return typeof value === 'object' && value !== null && typeof (value as LoggedError).stack === 'string' && 'message' in value;
}

function renderValue(value: unknown): string {
  if (typeof value === 'string') return BARE.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return `[${typeof value} that JSON cannot write]`;
  }
}

/** The stack's lines, each indented, the first one included only when it is not the summary already printed. */
function stackLines(stack: string, indent: string): string[] {
  return stack.split('\n').filter((line) => line.trim() !== '').map((line) => `${indent}${line.trim().startsWith('at ') ? '  ' : ''}${line.trim()}`);
}

export interface PrettyEntry {
  timestamp?: unknown;
  level: string;
  message?: unknown;
  service?: unknown;
  stack?: unknown;
  [key: string]: unknown;
}

/** `entry` (after redaction) as readable text; `colour` paints the level. */
export function renderPretty(entry: PrettyEntry, colour: boolean): string {
  const { timestamp, level, message, service, stack, ...fields } = entry;
  const paint = colour ? `${LEVEL_COLOURS[level] ?? ''}${level}${RESET}` : level;
  const time = colour ? `${DIM}${String(timestamp)}${RESET}` : String(timestamp);
  const parts: string[] = [];
  const stacks: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (isLoggedError(value)) {
      const code = typeof value.code === 'string' || typeof value.code === 'number' ? ` (${value.code})` : '';
      const type = typeof value.type === 'string' ? value.type : 'Error';
      const text = typeof value.message === 'string' ? value.message : renderValue(value.message);
      parts.push(`${key}=${renderValue(`${type}: ${text}${code}`)}`);
      stacks.push(...stackLines(value.stack, '    '));
    } else {
      parts.push(`${key}=${renderValue(value)}`);
    }
  }
  // logger.error(err): the error's own stack, under the line that carries its message.
  if (typeof stack === 'string') stacks.unshift(...stackLines(stack, '    '));
  const head = `${time} ${String(service)} ${paint}: ${String(message)}${parts.length > 0 ? `  ${parts.join(' ')}` : ''}`;
  return stacks.length > 0 ? `${head}\n${stacks.join('\n')}` : head;
}
