/**
 * What the deploy-file tests share: reading deploy/ (YAML with merge keys, systemd units, env
 * files), the environment variables the config module reads (recorded from the code itself,
 * not copied), the worker flags, and loading a deploy file's settings through the config module.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadGatewayConfig, loadWorkerConfig } from '../../shared/src/config/load.js';
import { type GatewayConfig, type WorkerConfig, type WorkerFlags } from '../../shared/src/config/types.js';

export const ROOT = process.cwd();
export const DEPLOY_DIR = resolve(ROOT, 'deploy');

/**
 * Variables deploy files may set that Celerity's config module does not read, and who reads
 * them: Express and other libraries switch to production behaviour on NODE_ENV.
 */
// CELERITY_APP is read by the `celerity` command (cli.ts), not by the config module.
export const FOREIGN_VARIABLES: ReadonlySet<string> = new Set(['NODE_ENV', 'CELERITY_APP']);

/** Every file under `dir` (relative to the repository), recursively, sorted. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.push(relative(ROOT, path));
    }
  };
  walk(resolve(ROOT, dir));
  return out.sort();
}

export function yamlFilesUnder(dir: string): string[] {
  return filesUnder(dir).filter((f) => /\.ya?ml$/.test(f));
}

export function readText(path: string): string {
  return readFileSync(resolve(ROOT, path), 'utf8');
}

/** The documents of a YAML file as plain values; throws on any parse error or warning. */
export function readYaml(path: string): unknown[] {
  const docs = parseAllDocuments(readText(path), { merge: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  return list.map((doc) => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${path}: ${problems.map((p) => p.message).join('; ')}`);
    return doc.toJS({ maxAliasCount: 1000 }) as unknown;
  });
}

/**
 * The environment variables the config module reads, found by running its loaders on an
 * environment that records every name asked for (every loader reads each of its variables
 * whether or not it is set).
 */
export function knownVariables(): Set<string> {
  const seen = new Set<string>();
  const env = new Proxy<Record<string, string | undefined>>({}, {
    get: (_target, name) => {
      if (typeof name === 'string') seen.add(name);
      return undefined;
    },
  });
  loadGatewayConfig(env);
  loadWorkerConfig(env, {}, { queues: ['demo'], cpus: 1 });
  return seen;
}

/** `KEY=value` lines (systemd EnvironmentFile, Environment=), without comments and blanks. */
export function parseEnvLines(lines: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not KEY=value: ${line}`);
    env[line.slice(0, eq)] = line.slice(eq + 1).replace(/^"(.*)"$/, '$1');
  }
  return env;
}

/** Worker flags as the `celerity worker` command (cli.ts) declares them, by every spelling. */
const WORKER_FLAGS: Record<string, keyof Omit<WorkerFlags, 'taskEvents' | 'migrate'>> = {
  '--queues': 'queues',
  '-Q': 'queues',
  '--concurrency': 'concurrency',
  '-c': 'concurrency',
  '--metrics-port': 'metricsPort',
  '--metrics-host': 'metricsHost',
};

/** The worker's flags from its arguments (after `worker`); an unknown flag throws. */
export function parseWorkerArgs(args: readonly string[]): WorkerFlags {
  const flags: WorkerFlags = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '-E' || arg === '--task-events') {
      flags.taskEvents = true;
      continue;
    }
    if (arg === '--no-migrate') {
      flags.migrate = false;
      continue;
    }
    const key = WORKER_FLAGS[arg];
    const value = args[i + 1];
    if (!key || value === undefined) throw new Error(`unknown worker argument "${arg}" in ${args.join(' ')}`);
    flags[key] = value;
    i++;
  }
  return flags;
}

/** The spellings parseWorkerArgs knows, to check against the worker's own --help. */
export const WORKER_FLAG_SPELLINGS = [...Object.keys(WORKER_FLAGS), '-E', '--task-events', '--no-migrate'];

export type Process =
  | { role: 'gateway'; config: GatewayConfig }
  | { role: 'worker'; config: WorkerConfig; flags: WorkerFlags }
  | { role: 'migrate' };

/**
 * What a Celerity container or unit runs, from the arguments the image's entry point takes
 * (`gateway`, `worker --queues a`, `migrate`), its settings loaded by the config module as the
 * process would load them: a refused setting throws a ConfigError naming it.
 */
export function celerityProcess(args: readonly string[], env: Record<string, string>): Process {
  const [role, ...given] = args;
  // `--app <module>` picks the app module for the package's `celerity` command line; it does
  // not change how the settings load.
  const rest = given.filter((arg, i) => arg !== '--app' && given[i - 1] !== '--app');
  if (role === 'gateway' && rest.length === 0) return { role, config: loadGatewayConfig(env) };
  if (role === 'migrate' && rest.length === 0) return { role };
  if (role === 'worker') {
    const flags = parseWorkerArgs(rest);
    return { role, flags, config: loadWorkerConfig(env, flags, { queues: ['demo'], cpus: 1 }) };
  }
  throw new Error(`not a Celerity process: ${args.join(' ')}`);
}

/** Checks names against the config module; returns the ones it does not read. */
export function unknownVariables(names: Iterable<string>, known: ReadonlySet<string>): string[] {
  return [...names].filter((n) => !known.has(n) && !FOREIGN_VARIABLES.has(n));
}

/** Milliseconds of a Docker/compose duration such as `45s`, `1m30s`. */
export function durationMs(value: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = value;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`not a duration: ${value}`);
    total += Number(m[1]) * (units[m[2] ?? 's'] ?? 0);
    rest = rest.slice(m[0].length);
  }
  return total;
}
