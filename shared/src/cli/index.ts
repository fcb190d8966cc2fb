/** What cli/ offers the rest of Celerity: an explicit list; a new export is a decision. */
export { loadAppModule } from './app-module.js';
export { checkQueue, withBroker } from './broker-session.js';
export { callCommand } from './call-command.js';
export { controlCommand } from './control-command.js';
export { APP_HELP, type CliContext, examples } from './context.js';
export { CliError, EXIT } from './exit-codes.js';
export { unackedCount, vhostOf } from './management-api.js';
export { migrateCommand } from './migrate-command.js';
export { purgeCommand } from './purge-command.js';
export { inspectCommand } from './inspect-command.js';
export { formatError, type ServiceSettings } from './report.js';
export { resultCommand } from './result-command.js';
export { registerRevokeCommands } from './revoke-command.js';
export { checkSchemaAtStart, databaseError } from './schema-check.js';
