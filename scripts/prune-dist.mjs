#!/usr/bin/env node
// Part of `npm run build`: deletes compiled files in dist/ whose TypeScript source is gone
// (tsc never deletes outputs), so a renamed or removed module cannot linger in dist/ or ship
// in the package. Plain Node, no dependencies.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const OUTPUT = /\.(d\.ts|js\.map|d\.ts\.map|js)$/;

function prune(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      prune(full);
      if (readdirSync(full).length === 0) rmSync(full, { recursive: true });
      continue;
    }
    const match = OUTPUT.exec(entry.name);
    if (!match) continue;
    const source = path.join(root, path.relative(dist, dir), entry.name.slice(0, -match[0].length));
    if (!['.ts', '.mts', '.tsx'].some((ext) => existsSync(source + ext))) rmSync(full);
  }
}

if (existsSync(dist)) prune(dist);
