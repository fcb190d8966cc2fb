/**
 * What a command gets from the entry point (cli.ts): the environment, stdout, a way to ask the
 * user, and the exit. Commands read nothing of the process themselves, so tests can drive them.
 */
import type { CommonConfig, Env } from '../config/index.js';

export interface CliContext {
  /** The environment the settings default from. */
  readonly env: Env;
  /** Writes to stdout. */
  print(text: string): void;
  /** Asks a yes/no question on the terminal; false when there is no terminal to ask. */
  confirm(question: string): Promise<boolean>;
  /** The code the process ends with once the command returns. */
  exitCode(code: number): void;
  /** Ends the process with `code` now (for a second signal). */
  exit(code: number): void;
  /** The services a command is about to use, so that an error can name them. */
  services(config: Pick<CommonConfig, 'amqpUrls' | 'databaseUrl'>): void;
}

export const APP_HELP = 'path of the app module (an ES module exporting defineTask values; env CELERITY_APP)';

/** The end of a command's --help: a few examples. */
export function examples(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;
}
