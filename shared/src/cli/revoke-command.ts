/**
 * `celerity control revoke <id...>` and `celerity control terminate <id...>`, as Celery's
 * `celery control revoke` / `celery control terminate`: durable first (PostgreSQL: no worker
 * will start these tasks, also one down or disconnected now), then broadcast to the running
 * workers on `celerity.revoke`. Works with no worker running.
 */
import type { Command } from 'commander';
import { loadCommonConfig } from '../config/index.js';
import { isFinalState, unstorableTextReason } from '../core/index.js';
import { createPool } from '../store/index.js';
import { Revoker, type RevokeOutcome } from '../submit/index.js';
import { withBroker } from './broker-session.js';
import { CliError, EXIT } from './exit-codes.js';
import { examples, type CliContext } from './context.js';

/** Most ids in one command (one transaction). */
const MAX_IDS = 10_000;
const MAX_ID_CHARS = 255;

interface RevokeFlags {
  reason?: string;
  json?: boolean;
}

async function runRevoke(ctx: CliContext, ids: string[], terminate: boolean, flags: RevokeFlags): Promise<void> {
  const bad = ids.find((id) => id.trim() === '' || id.length > MAX_ID_CHARS || /\s/.test(id) || unstorableTextReason(id) !== undefined);
  if (bad !== undefined) throw new CliError(EXIT.CONFIG, `invalid task id "${bad}" (1 to ${MAX_ID_CHARS} characters, no spaces)`);
  if (ids.length > MAX_IDS) throw new CliError(EXIT.CONFIG, `at most ${MAX_IDS} ids at once, got ${ids.length}`);
  const config = loadCommonConfig(ctx.env);
  const outcome = await withBroker(ctx, async (broker, logger) => {
    const pool = createPool({ url: config.databaseUrl, schema: config.databaseSchema, logger, applicationName: 'celerity-cli', max: 1 });
    let revoker: Revoker | undefined;
    try {
      revoker = await Revoker.create(broker, pool, logger, 'cli');
      return await revoker.revoke(ids, { terminate, ...(flags.reason !== undefined ? { reason: flags.reason } : {}) });
    } finally {
      await revoker?.close();
      await pool.end();
    }
  });
  ctx.print(flags.json ? `${JSON.stringify(asJson(outcome), null, 2)}\n` : describe(outcome, terminate));
}

function asJson(outcome: RevokeOutcome): unknown {
  return {
    broadcast: outcome.broadcast,
    tasks: outcome.results.map((r) => ({ id: r.id, terminate: r.terminate, repeated: !r.created, state: r.task?.state ?? null })),
  };
}

function describe(outcome: RevokeOutcome, terminate: boolean): string {
  const lines = outcome.results.map((r) => {
    const state = r.task?.state;
    if (state === undefined) return `${r.id}  revoked: no such task yet; it will never start`;
    if (state === 'REVOKED') return `${r.id}  REVOKED`;
    if (isFinalState(state)) return `${r.id}  already finished (${state}): unchanged`;
    return `${r.id}  ${state}: ${terminate ? 'terminate sent to the worker running it' : 'running; it finishes (use terminate to stop it), and never starts again'}`;
  });
  if (!outcome.broadcast) lines.push('note: running workers could not be told now; the revoke is recorded, and no worker will start these tasks');
  return `${lines.join('\n')}\n`;
}

/** Adds `revoke` and `terminate` to the `celerity control` group. */
export function registerRevokeCommands(control: Command, ctx: CliContext): void {
  const add = (name: 'revoke' | 'terminate', terminate: boolean, description: string, lines: string[]): void => {
    control
      .command(name)
      .description(description)
      .argument('<id...>', 'task ids')
      .option('--reason <text>', 'why, recorded with the revoke and as the task\'s error message')
      .option('--json', 'print the outcome as JSON')
      .addHelpText('after', examples(lines))
      .action((ids: string[], flags: RevokeFlags) => runRevoke(ctx, ids, terminate, flags));
  };
  add('revoke', false, 'revoke tasks: those not started never run (on any worker, also one started later) and end REVOKED; running ones finish', [
    'celerity control revoke 3f2b8c1e-6a1d-4c57-9d0e-2b1f4a7c9e10',
    'celerity control revoke ID1 ID2 --reason "duplicate order"',
  ]);
  add('terminate', true, 'revoke tasks and stop those running now (their signal fires, a CPU task\'s thread is stopped); they end REVOKED', [
    'celerity control terminate 3f2b8c1e-6a1d-4c57-9d0e-2b1f4a7c9e10',
    'celerity control terminate ID --json',
  ]);
}
