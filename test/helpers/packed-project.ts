/**
 * The package as a user gets it, for the tests that follow the guide: `npm pack` of this
 * repository (the dist/ the build made, `--ignore-scripts`: rebuilding here would rewrite files
 * that tests running beside are using), installed into a new project outside it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

export interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}

export interface PackedProject {
  /** The temporary directory holding the tarball and the project. */
  dir: string;
  /** The user's project, with the package installed. */
  project: string;
  /** Its `node_modules/.bin/celerity`. */
  bin: string;
  packed: Packed;
  /** Deletes the directory. */
  remove(): Promise<void>;
}

/** Packs the repository and installs the tarball into a new ES-module project. */
export async function packedProject(prefix = 'celerity-pkg-'): Promise<PackedProject> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const { stdout } = await run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: REPO, maxBuffer: 16 * 1024 * 1024 });
  const packed = (JSON.parse(stdout) as Packed[])[0] as Packed;
  const project = path.join(dir, 'project');
  await run('mkdir', ['-p', project]);
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'celerity-user', private: true, type: 'module' }));
  await run(NPM, ['install', path.join(dir, packed.filename), '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: project,
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return { dir, project, bin: path.join(project, 'node_modules', '.bin', 'celerity'), packed, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A child process and everything it printed. */
export interface Child {
  child: ChildProcess;
  output: () => string;
}

export function startChild(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Child {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

/** SIGTERM, then waits for the exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
