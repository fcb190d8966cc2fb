/**
 * `celerity migrate`: applies the database migrations to DATABASE_SCHEMA. Safe to run again, and
 * from several processes at once (an advisory lock serialises them). Workers and gateways run the
 * same step at start unless told not to (`--no-migrate`, AUTO_MIGRATE=false).
 */
import { Command } from 'commander';
import { loadCommonConfig } from '../config/index.js';
import { loggerFromConfig } from '../core/index.js';
import { examples, type CliContext } from './context.js';
import { migrateSchema } from './schema-check.js';

async function runMigrate(ctx: CliContext): Promise<void> {
  const config = loadCommonConfig(ctx.env);
  ctx.services(config);
  const logger = loggerFromConfig('migrate', config);
  const schema = config.databaseSchema;
  const { applied, current } = await migrateSchema(config, logger);
  logger.info(applied.length > 0 ? `migrated schema ${schema} to version ${current}` : `schema ${schema} is up to date (version ${current})`);
}

export function migrateCommand(ctx: CliContext): Command {
  return new Command('migrate')
    .description('apply database migrations (safe to run again, and concurrently)')
    .addHelpText(
      'after',
      examples(['celerity migrate', 'DATABASE_URL=postgres://app:secret@db:5432/app DATABASE_SCHEMA=jobs celerity migrate']),
    )
    .action(() => runMigrate(ctx));
}
