/**
 * The type fixtures (test/types/*.types.ts) under both compilers a user may have: TypeScript 5.9
 * (the `typescript` devDependency) and 7 (`typescript-7`, npm:typescript@^7). First each `tsc`
 * checks them as written: positive cases compile and every `@ts-expect-error` is used. Then the
 * directives are removed (in a copy) and each formerly expected error must be there and name
 * what its comment names in backticks — in its message, or by pointing at it — and never be the
 * by-name overload's "not assignable to parameter of type 'string'", which hid the real error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TYPES = path.join(REPO, 'test', 'types');

const COMPILERS = [
  { label: 'TypeScript 5.9', bin: path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), version: /^Version 5\.9\./ },
  { label: 'TypeScript 7', bin: path.join(REPO, 'node_modules', 'typescript-7', 'bin', 'tsc'), version: /^Version 7\./ },
];

/** One diagnostic of `tsc --pretty false`: `file(line,col): error TSnnnn: message` plus indented lines. */
interface Diagnostic {
  file: string;
  line: number;
  column: number;
  text: string;
}

function parseDiagnostics(output: string): Diagnostic[] {
  const found: Diagnostic[] = [];
  for (const raw of output.split('\n')) {
    const head = /^(.+?)\((\d+),(\d+)\): error (TS\d+: .*)$/.exec(raw);
    if (head) found.push({ file: path.basename(head[1] ?? ''), line: Number(head[2]), column: Number(head[3]), text: head[4] ?? '' });
    else if (/^\s+\S/.test(raw) && found.length > 0) (found.at(-1) as Diagnostic).text += `\n${raw.trim()}`;
  }
  return found;
}

/** Runs `tsc -p project`; resolves with its exit code and output (it exits 2 on type errors). */
async function tsc(bin: string, project: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, '-p', project, '--noEmit', '--pretty', 'false'], { cwd: REPO, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const failed = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

/** An expected error: the line after a directive, and the words its comment names in backticks. */
interface Expectation {
  file: string;
  line: number;
  names: string[];
  comment: string;
}

interface Fixture {
  file: string;
  lines: string[];
  expectations: Expectation[];
}

async function readFixtures(): Promise<Fixture[]> {
  const files = (await readdir(TYPES)).filter((f) => f.endsWith('.types.ts')).sort();
  return Promise.all(
    files.map(async (file) => {
      const lines = (await readFile(path.join(TYPES, file), 'utf8')).split('\n');
      const expectations: Expectation[] = [];
      lines.forEach((text, i) => {
        const directive = /\/\/ @ts-expect-error:?(.*)$/.exec(text);
        if (!directive) return;
        const comment = directive[1]?.trim() ?? '';
        expectations.push({ file, line: i + 2, names: [...comment.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ''), comment });
      });
      return { file, lines, expectations };
    }),
  );
}

/**
 * A copy of the fixtures without their directives (each replaced by an empty line, so line
 * numbers stay), in a directory that sees the repository's sources and modules through links.
 */
async function strippedCopy(dir: string, fixtures: readonly Fixture[]): Promise<string> {
  for (const entry of ['index.ts', 'shared', 'gateway', 'worker', 'node_modules', 'package.json']) {
    await symlink(path.join(REPO, entry), path.join(dir, entry));
  }
  const types = path.join(dir, 'test', 'types');
  await mkdir(types, { recursive: true });
  for (const fixture of fixtures) {
    const text = fixture.lines.map((line) => (/\/\/ @ts-expect-error/.test(line) ? '' : line)).join('\n');
    await writeFile(path.join(types, fixture.file), text);
  }
  // The repository's options, without those about output (the sources are linked, not under this root).
  const { compilerOptions } = JSON.parse(await readFile(path.join(REPO, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
  const { rootDir: _r, outDir: _o, declaration: _d, sourceMap: _s, ...options } = compilerOptions;
  const project = path.join(types, 'tsconfig.json');
  await writeFile(project, JSON.stringify({ compilerOptions: { ...options, noEmit: true }, include: ['*.types.ts'] }));
  return project;
}

describe('type fixtures under TypeScript 5.9 and 7', { timeout: 600_000 }, () => {
  let fixtures: Fixture[];
  let dir: string;
  let stripped: string;

  before(async () => {
    fixtures = await readFixtures();
    dir = await mkdtemp(path.join(tmpdir(), 'celerity-types-'));
    stripped = await strippedCopy(dir, fixtures);
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('has fixtures with expected errors that name what is wrong', () => {
    const expectations = fixtures.flatMap((f) => f.expectations);
    assert.ok(fixtures.length >= 3 && expectations.length >= 20, `${fixtures.length} fixtures, ${expectations.length} expected errors`);
    assert.ok(expectations.filter((e) => e.names.length > 0).length >= 10);
  });

  for (const compiler of COMPILERS) {
    describe(compiler.label, () => {
      it('is the version it says', async () => {
        const { stdout } = await run(process.execPath, [compiler.bin, '--version']);
        assert.match(stdout.trim(), compiler.version);
      });

      it('compiles the fixtures as written: the positive cases, and every @ts-expect-error is an error', async () => {
        const { code, output } = await tsc(compiler.bin, path.join(TYPES, 'tsconfig.json'));
        assert.equal(output.trim(), '');
        assert.equal(code, 0);
      });

      it('without the directives, reports each expected error, naming the field, and nothing else', async () => {
        const { code, output } = await tsc(compiler.bin, stripped);
        assert.notEqual(code, 0, 'the stripped fixtures have errors');
        const diagnostics = parseDiagnostics(output);
        assert.ok(diagnostics.length > 0, output);
        const byLine = (file: string, line: number): Diagnostic[] => diagnostics.filter((d) => d.file === file && d.line === line);
        for (const fixture of fixtures) {
          for (const expected of fixture.expectations) {
            const where = `${expected.file}:${expected.line} (${expected.comment})`;
            const found = byLine(expected.file, expected.line);
            assert.ok(found.length > 0, `${compiler.label}: no error at ${where}`);
            const source = fixture.lines[expected.line - 1] ?? '';
            for (const name of expected.names) {
              // Named in the message, or pointed at: the error's column is where the name is written.
              const named = found.some((d) => d.text.includes(name) || source.slice(d.column - 1).startsWith(name));
              assert.ok(named, `${compiler.label}: the error at ${where} does not name ${name}:\n${found.map((d) => `${d.column}: ${d.text}`).join('\n')}`);
            }
            for (const d of found) assert.doesNotMatch(d.text, /is not assignable to parameter of type 'string'/, `${compiler.label} at ${where}`);
          }
        }
        const expectedLines = new Set(fixtures.flatMap((f) => f.expectations.map((e) => `${e.file}:${e.line}`)));
        const stray = diagnostics.filter((d) => !expectedLines.has(`${d.file}:${d.line}`));
        assert.deepEqual(stray, [], `${compiler.label}: errors no directive expected`);
      });
    });
  }
});
