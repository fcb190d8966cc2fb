/**
 * What `celerity inspect` and `celerity control` share: the flags (`--destination`, `--timeout`,
 * `--json`), one remote-control call over the broker, and printing the replies as Celery's
 * `celery inspect` does (`->  <worker>: OK` and the reply indented), or as JSON.
 */
import type { Command } from 'commander';
import { ControlClient, type ControlCommand, type ControlReply } from '../broker/index.js';
import { withBroker } from './broker-session.js';
import { CliError, EXIT } from './exit-codes.js';
import type { CliContext } from './context.js';

export interface ControlFlags {
  destination?: string;
  timeout?: string;
  json?: boolean;
}

/** Celery's default: a worker answers within a second or counts as not there. */
const DEFAULT_TIMEOUT_S = 1;

/** Adds the flags every inspect and control command takes. */
export function withControlFlags(command: Command): Command {
  return command
    .option('-d, --destination <workers>', 'comma-separated worker names to ask (default: every worker); names as `celerity inspect ping` lists them')
    .option('-t, --timeout <seconds>', `how long to wait for replies (default ${DEFAULT_TIMEOUT_S})`)
    .option('-j, --json', 'print the replies as one JSON object, keyed by worker name');
}

function parseTimeoutMs(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT_S * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) throw new CliError(EXIT.CONFIG, `--timeout must be a number of seconds between 0 and 3600, not "${value}"`);
  return Math.round(seconds * 1000);
}

function parseDestination(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(',').map((n) => n.trim()).filter((n) => n !== '');
  if (names.length === 0) throw new CliError(EXIT.CONFIG, '--destination names no worker');
  return names;
}

function indent(value: unknown): string {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const { ok, error } = value as { ok?: unknown; error?: unknown };
    if (typeof ok === 'string' && Object.keys(value).length === 1) return `        ${ok}`;
    if (typeof error === 'string' && Object.keys(value).length === 1) return `        error: ${error}`;
  }
  if (Array.isArray(value) && value.length === 0) return '    - empty -';
  if (Array.isArray(value)) return value.map((item) => `    * ${typeof item === 'string' ? item : JSON.stringify(item)}`).join('\n');
  return JSON.stringify(value, null, 2).replace(/^/gm, '    ');
}

/** Celery's `nok()` reply: `{"error": text}`. */
function isError(reply: unknown): boolean {
  return typeof reply === 'object' && reply !== null && 'error' in reply;
}

/** One worker's replies merged into `{ name: reply }`, as Celery's `inspect()` returns them. */
function merge(replies: readonly ControlReply[]): Record<string, unknown> {
  return Object.assign({}, ...replies) as Record<string, unknown>;
}

/**
 * Sends `command` with the flags' destination and timeout and prints the replies. No reply at
 * all, or none from a named worker, ends with exit 6 and says which: a worker that is gone never
 * answers, so the timeout is the only way to know.
 */
export async function runControl(ctx: CliContext, command: Omit<ControlCommand, 'destination'>, flags: ControlFlags): Promise<void> {
  const timeoutMs = parseTimeoutMs(flags.timeout);
  const destination = parseDestination(flags.destination);
  await withBroker(ctx, async (broker, logger) => {
    const client = await ControlClient.create(broker, { logger });
    try {
      const replies = merge(await client.call({ ...command, ...(destination ? { destination } : {}) }, timeoutMs));
      const names = Object.keys(replies).sort();
      if (flags.json) ctx.print(`${JSON.stringify(replies, null, 2)}\n`);
      else if (names.length > 0) {
        for (const name of names) {
          const reply = replies[name];
          ctx.print(`->  ${name}: ${isError(reply) ? 'ERROR' : 'OK'}\n${indent(reply)}\n`);
        }
        ctx.print(`\n${names.length} node${names.length === 1 ? '' : 's'} online.\n`);
      }
      const seconds = timeoutMs / 1000;
      const missing = destination?.filter((name) => !names.includes(name)) ?? [];
      if (names.length === 0 && !destination) {
        throw new CliError(EXIT.TIMEOUT, `no worker replied to ${command.method} within ${seconds}s`, 'is a worker running on this broker (AMQP_URL)? A busy one may need a longer --timeout.');
      }
      if (missing.length > 0) {
        throw new CliError(EXIT.TIMEOUT, `no reply from ${missing.join(', ')} to ${command.method} within ${seconds}s: gone, busy, or not a worker's name`, '`celerity inspect ping` lists the workers that answer, by name.');
      }
      if (names.some((name) => isError(replies[name]))) ctx.exitCode(EXIT.FAILED);
    } finally {
      await client.close();
    }
  });
}
