/**
 * The package as a user gets it, for the package tests: `npm pack` run the way a release runs
 * it (with its prepack / postpack scripts), the tarball installed into a new project, and the
 * project's commands run as child processes.
 *
 * It packs a copy of the files the tarball takes (plus the pack script), not the checkout: the
 * prepack script rewrites package.json while npm packs, which tests and builds running beside
 * this one must never see. It packs the dist/ the build made (CELERITY_PACK_PREBUILT=1):
 * rebuilding would rewrite files those tests are using.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import pg from 'pg';
import { TEST_AMQP_URL, TEST_DATABASE_URL } from './env.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);
/** The repository (this file runs from dist/test/helpers). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** What `npm pack --json` says of one tarball. */
export interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: Array<{ path: string }>;
}

export interface PackResult {
  packed: Packed;
  /** Absolute path of the tarball. */
  tarball: string;
  /** The directory packed (the copy), whose package.json the postpack script restored. */
  source: string;
}

/** npm prints lifecycle lines around `--json` output; the JSON is the array that starts a line. */
function jsonOf(stdout: string): Packed[] {
  const start = stdout.search(/^\[/m);
  if (start === -1) throw new Error(`npm pack printed no JSON:\n${stdout.slice(0, 2000)}`);
  return JSON.parse(stdout.slice(start)) as Packed[];
}

/** Packs the repository into `dir` (a temporary directory of the test's). */
async function packRepository(dir: string): Promise<PackResult> {
  const listed = await run(NPM, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, maxBuffer: 16 * 1024 * 1024 });
  const files = [...new Set([...(jsonOf(listed.stdout)[0]?.files ?? []).map((f) => f.path), 'scripts/packed-manifest.mjs'])];
  const source = path.join(dir, 'source');
  for (const file of files) {
    await mkdir(path.dirname(path.join(source, file)), { recursive: true });
    await copyFile(path.join(REPO, file), path.join(source, file));
  }
  const { stdout } = await run(NPM, ['pack', '--json', '--pack-destination', dir], {
    cwd: source,
    env: { ...process.env, CELERITY_PACK_PREBUILT: '1' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const packed = jsonOf(stdout)[0] as Packed;
  return { packed, tarball: path.join(dir, packed.filename), source };
}

/** The package.json inside a tarball, as the user's install reads it. */
export async function packedManifest(tarball: string): Promise<Record<string, unknown>> {
  const { stdout } = await run('tar', ['-xzOf', tarball, 'package/package.json'], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/**
 * Creates an ES-module project in `project` and installs the tarball there; resolves with what
 * npm printed (its warnings included).
 */
async function installInto(project: string, tarball: string): Promise<string> {
  await mkdir(project, { recursive: true });
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'celerity-user', private: true, type: 'module' }));
  const { stdout, stderr } = await run(NPM, ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: project,
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout + stderr;
}

/** The repository's package.json, as the checkout has it. */
export async function repositoryManifest(): Promise<string> {
  return readFile(path.join(REPO, 'package.json'), 'utf8');
}

export interface PackedProject extends PackResult {
  /** The temporary directory holding the copy, the tarball and the project. */
  dir: string;
  /** The user's project, with the package installed. */
  project: string;
  /** Its `node_modules/.bin/celerity`. */
  bin: string;
  /** What `npm install` printed there (its warnings included). */
  installOutput: string;
  /** Deletes the directory. */
  remove(): Promise<void>;
}

/** Packs the repository into a new temporary directory and installs the tarball into a new ES-module project there. */
export async function packedProject(prefix = 'celerity-pkg-'): Promise<PackedProject> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const pack = await packRepository(dir);
  const project = path.join(dir, 'project');
  const installOutput = await installInto(project, pack.tarball);
  return {
    ...pack,
    dir,
    project,
    bin: path.join(project, 'node_modules', '.bin', 'celerity'),
    installOutput,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A child process and everything it printed. */
export interface Child {
  child: ChildProcess;
  output: () => string;
  /** In a process group of its own, stopped as a whole: a command (npx) that runs the real one as its child. */
  group: boolean;
}

export function startChild(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, { group = false } = {}): Child {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: group });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output, group };
}

/** Whether any process of the group led by `pid` is still alive. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM (to its whole group when it has one), then waits until it, and the group, have exited. */
export async function stopChild({ child, group }: Child): Promise<void> {
  const pid = child.pid;
  if (group && pid !== undefined) {
    // npx may exit before the process it ran: the group is gone only when that one is too.
    if (groupAlive(pid)) process.kill(-pid, 'SIGTERM');
    await waitFor('the process group to exit', () => !groupAlive(pid), { timeoutMs: 60_000 });
    return;
  }
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/**
 * After a package test: its processes stopped, its schema dropped, its queues (and their
 * dead-letter queues) deleted, and the temporary project removed.
 */
export async function cleanupPackageTest(options: { children: readonly Child[]; schema: string; queues: readonly string[]; project: PackedProject | undefined }): Promise<void> {
  for (const c of options.children) await stopChild(c);
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${options.schema}" CASCADE`);
  await client.end();
  const connection = await amqp.connect(TEST_AMQP_URL);
  const channel = await connection.createChannel();
  for (const q of options.queues) for (const name of [q, `${q}.dead`]) await channel.deleteQueue(name);
  await connection.close();
  await options.project?.remove();
}
