/** `celerity keys create|list|revoke`: API keys for AUTH_MODE=keys (worker/src/keys-command.ts does the work). */
import { Command } from 'commander';
import type pg from 'pg';
import { loadCommonConfig } from '../../../shared/src/config/index.js';
import { createPool } from '../../../shared/src/store/index.js';
import { loggerFromConfig } from '../../../shared/src/core/index.js';
import { KeysUsageError, createKey, listKeys, revokeKey, type CreateKeyFlags } from '../keys-command.js';
import {
  type CliContext,
  CliError,
  databaseError,
  examples,
  EXIT,
} from '../../../shared/src/cli/index.js';

/** Runs one `keys` subcommand against the configured database and prints its output. */
async function runKeys(ctx: CliContext, command: (pool: pg.Pool) => Promise<string>): Promise<void> {
  const config = loadCommonConfig(ctx.env);
  ctx.services(config);
  const logger = loggerFromConfig('keys', config, { stderr: true });
  const pool = createPool({ url: config.databaseUrl, schema: config.databaseSchema, logger, applicationName: 'celerity-keys', max: 1 });
  try {
    ctx.print(await command(pool));
  } catch (err) {
    if (err instanceof KeysUsageError) throw new CliError(EXIT.CONFIG, `keys: ${err.message}`, undefined, { cause: err });
    throw databaseError(err, config.databaseUrl);
  } finally {
    await pool.end();
  }
}

export function keysCommand(ctx: CliContext): Command {
  const keys = new Command('keys').description('manage API keys (AUTH_MODE=keys): create, list, revoke');
  keys
    .command('create')
    .description('create a key and print it (the only time it is shown)')
    .requiredOption('--name <name>', 'a name to know it by (unique among keys in force)')
    .requiredOption('--scopes <list>', 'comma-separated: admin, tasks:read, task-name patterns such as reports.* or *')
    .option('--rate <n>', "tasks per minute for this key, a batch of N counting N (default: the gateway's RATE_LIMIT_PER_MINUTE)")
    .option('--json', 'print JSON (for scripts)')
    .addHelpText('after', examples(['celerity keys create --name ops --scopes admin', "celerity keys create --name billing --scopes 'billing.*,tasks:read' --rate 120 --json"]))
    .action((flags: CreateKeyFlags) => runKeys(ctx, (pool) => createKey(pool, flags)));
  keys
    .command('list')
    .description('list the keys in force (never their secrets)')
    .option('--all', 'include revoked keys')
    .option('--json', 'print JSON')
    .addHelpText('after', examples(['celerity keys list', 'celerity keys list --all --json']))
    .action((flags: { json?: boolean; all?: boolean }) => runKeys(ctx, (pool) => listKeys(pool, flags)));
  keys
    .command('revoke')
    .description('revoke one key, by id (or by name with --name); refused from the next request on')
    .argument('[id]', "the key's id, as keys list shows it")
    .option('--name <name>', 'revoke the key in force with this name instead')
    .addHelpText('after', examples(['celerity keys revoke 0123456789ab', 'celerity keys revoke --name billing']))
    .action((id: string | undefined, flags: { name?: string }) => runKeys(ctx, (pool) => revokeKey(pool, { id, name: flags.name })));
  keys.addHelpText('after', examples(['celerity keys create --name ops --scopes admin', 'celerity keys list']));
  return keys;
}
