/**
 * The app module of a command: `--app`, else CELERITY_APP, loaded with the package's loader. A
 * syntax error keeps the `file.mjs:3` line, the code and the caret that `node` prints for it.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadApp, type LoadedApp } from '../app/index.js';
import { CelerityError } from '../core/index.js';
import type { Env } from '../config/index.js';
import { CliError, EXIT } from './exit-codes.js';

const run = promisify(execFile);

/** Where node's own checker puts the location: `file:///…/tasks.mjs:3`, the line, the caret. */
async function syntaxLocation(file: string): Promise<string | undefined> {
  if (!/\.(m|c)?js$/.test(file)) return undefined;
  try {
    await run(process.execPath, ['--check', file], { timeout: 10_000 });
    // The module itself parses: the error is in a module it imports, named in the message.
    return undefined;
  } catch (err) {
    const stderr = (err as { stderr?: unknown }).stderr;
    if (typeof stderr !== 'string') return undefined;
    // The block before the first blank line: location, source line, caret.
    const block = stderr.split(/\n\s*\n/)[0]?.trimEnd();
    return block && /:\d+$/.test(block.split('\n')[0] ?? '') ? block : undefined;
  }
}

/** The SyntaxError under an INVALID_APP error, when that is why the module failed to load. */
function syntaxErrorOf(err: unknown): SyntaxError | undefined {
  const cause = err instanceof Error ? err.cause : undefined;
  return cause instanceof SyntaxError ? cause : undefined;
}

/** The app module named by `flag` or CELERITY_APP, or a CliError (exit 2) saying why not. */
export async function loadAppModule(flag: string | undefined, env: Env): Promise<LoadedApp> {
  const modulePath = flag ?? (env.CELERITY_APP?.trim() || undefined);
  const setting = flag !== undefined ? '--app' : 'CELERITY_APP';
  if (!modulePath) {
    throw new CliError(EXIT.CONFIG, 'no app module: pass --app <module> or set CELERITY_APP', 'the app module is an ES module exporting defineTask values, e.g. --app ./tasks.js.');
  }
  try {
    return await loadApp(modulePath);
  } catch (err) {
    if (!(err instanceof CelerityError) || (err.code !== 'INVALID_APP' && err.code !== 'INVALID_TASK_DEFINITION')) throw err;
    const syntax = syntaxErrorOf(err);
    if (syntax) {
      const location = await syntaxLocation(path.resolve(modulePath));
      const where = location ? `\n${location}` : '';
      throw new CliError(EXIT.CONFIG, `${modulePath} (${setting}) has a syntax error: ${syntax.message}${where}`, undefined, { cause: err });
    }
    // The loader's message carries the whole stack of what the module threw: --verbose shows it.
    const cause = err.cause;
    if (cause instanceof Error) {
      throw new CliError(EXIT.CONFIG, `${modulePath} (${setting}) failed to load: ${cause.name}: ${cause.message}`, undefined, { cause: err });
    }
    throw new CliError(EXIT.CONFIG, err.message, undefined, { cause: err });
  }
}
