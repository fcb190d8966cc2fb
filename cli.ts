#!/usr/bin/env node
// The `celerity` command: `celerity worker --app ./tasks.js [-Q a,b] [-c N]`, `celerity gateway --app ./tasks.js`,
// `celerity beat --app ./tasks.js`, `celerity call|result|purge|status|migrate|topology|keys|dead-letters|inspect|control …`; `--help` on each (commands in shared/src/cli/).
// The only place of the CLI that reads the process (environment, terminal), and that exits.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { Command, CommanderError } from 'commander';
import {
  callCommand,
  controlCommand,
  EXIT,
  formatError,
  inspectCommand,
  migrateCommand,
  purgeCommand,
  registerRevokeCommands,
  resultCommand,
  type ServiceSettings,
} from './shared/src/cli/index.js';
import type { CliContext } from './shared/src/cli/index.js';
import { beatCommand } from './worker/src/commands/beat-command.js';
import { deadLettersCommand } from './worker/src/commands/dead-letters-command.js';
import { gatewayCommand } from './gateway/src/commands/gateway-command.js';
import { keysCommand } from './worker/src/commands/keys-command.js';
import { statusCommand } from './gateway/src/commands/status-command.js';
import { topologyCommand } from './worker/src/commands/topology-command.js';
import { workerCommand } from './worker/src/commands/worker-command.js';

/** The installed package's version (dist/cli.js sits one level below package.json). */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return manifest.version ?? 'unknown';
}

let services: ServiceSettings | undefined;

const ctx: CliContext = {
  env: process.env,
  print: (text) => void process.stdout.write(text),
  confirm: async (question) => {
    if (!process.stdin.isTTY) return false;
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await prompt.question(question)).trim());
    } finally {
      prompt.close();
    }
  },
  exitCode: (code) => {
    process.exitCode = code;
  },
  exit: (code) => process.exit(code),
  services: (config) => {
    services = { amqpUrls: config.amqpUrls, databaseUrl: config.databaseUrl };
  },
};

const program = new Command('celerity')
  .description("Celerity: a task system on RabbitMQ and PostgreSQL that speaks Celery's protocol")
  .version(version(), '-V, --version', 'print the version')
  .option('--verbose', 'print the stack of an error (as DEBUG=1 does)')
  .addHelpText(
    'after',
    `
Exit codes: 0 ok, 1 failed (a task, or an unexpected error), 2 configuration or input, 3 RabbitMQ or
PostgreSQL unreachable, 4 database schema not migrated or newer, 5 not found, 6 --wait ran out, 130 interrupted.

Examples:
  $ celerity worker --app ./tasks.js
  $ celerity call demo.add --args '[1, 2]' --wait 10
  $ celerity status`,
  );

// `celerity control …`: the remote-control subcommands; other files add theirs to this group (a function taking it).
const control = controlCommand(ctx);
registerRevokeCommands(control, ctx);

for (const command of [
  workerCommand(ctx),
  beatCommand(ctx),
  gatewayCommand(ctx),
  migrateCommand(ctx),
  callCommand(ctx),
  resultCommand(ctx),
  statusCommand(ctx),
  purgeCommand(ctx),
  topologyCommand(ctx),
  deadLettersCommand(ctx),
  keysCommand(ctx),
  inspectCommand(ctx),
  control,
]) {
  program.addCommand(command);
}

// Usage errors (an unknown option, a missing argument) exit 2 like configuration errors, in the
// same `celerity: …` style; --help and --version exit 0.
function configure(command: Command): void {
  command
    .exitOverride()
    .showHelpAfterError('(add --help for usage and examples)')
    .configureOutput({ outputError: (text, write) => write(`celerity: ${text.replace(/^error: /, '')}`) });
  for (const sub of command.commands) configure(sub);
}
configure(program);

function verbose(): boolean {
  return program.opts<{ verbose?: boolean }>().verbose === true || Boolean(process.env.DEBUG?.trim());
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.CONFIG);
  const { text, exitCode } = formatError(err, { verbose: verbose(), ...(services ? { services } : {}) });
  process.stderr.write(text);
  process.exit(exitCode);
});
