// The package.json that `npm pack` / `npm publish` ship: this repository's own, without its
// `scripts`. They all name files the tarball does not ship (scripts/*.sh, dist/examples/...), and
// `prepare` would run on a user's install (npm 11 warns about it). Run by npm, never by hand:
//   prepack:  node scripts/packed-manifest.mjs strip    build (unless CELERITY_PACK_PREBUILT=1),
//                                                       keep package.json aside, write it without scripts
//   postpack: node scripts/packed-manifest.mjs restore  put the repository's package.json back
// npm reads package.json again after prepack to make the tarball, and runs postpack from the
// manifest it read before, so the tarball gets the stripped file and the checkout gets its own back.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const manifest = path.join(root, 'package.json');
// Outside `files`, so never packed; a leftover (a pack that failed before postpack) is restored first.
const kept = path.join(root, '.package.json.repository');

function restore() {
  if (existsSync(kept)) renameSync(kept, manifest);
}

function strip() {
  restore();
  // A pack ships dist/: build it, unless the caller says it is built (the package tests, which
  // must not rewrite files that tests running beside them use).
  if (process.env.CELERITY_PACK_PREBUILT !== '1') {
    const built = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
    if (built.status !== 0) process.exit(built.status ?? 1);
  }
  const text = readFileSync(manifest, 'utf8');
  const { scripts: _repositoryOnly, ...packed } = JSON.parse(text);
  writeFileSync(kept, text);
  writeFileSync(manifest, `${JSON.stringify(packed, null, 2)}\n`);
}

const command = process.argv[2];
if (command === 'strip') strip();
else if (command === 'restore') restore();
else {
  console.error('usage: node scripts/packed-manifest.mjs strip|restore (npm runs it as prepack / postpack)');
  process.exit(2);
}
