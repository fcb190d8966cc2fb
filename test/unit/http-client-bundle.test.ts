/**
 * `celerity/http` is for browsers: bundled by esbuild for the browser platform it must resolve
 * nothing outside its folder (no Node built-in, no other module of the package at run time), and
 * it stays small. Prints its size minified and gzipped (docs/http-client.md quotes it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { FINAL_STATES as CORE_FINAL_STATES } from '../../shared/src/core/task.js';
import { FINAL_STATES } from '../../shared/src/http/index.js';

/** The compiled entry (tests run from dist/, next to it). */
const ENTRY = fileURLToPath(new URL('../../shared/src/http/index.js', import.meta.url));

/** A bound, not a target: the client was 2.1 KB minified and gzipped when this was written. */
const MAX_GZIPPED_BYTES = 4 * 1024;

describe('celerity/http bundle', () => {
  it('bundles for browsers from its own folder alone, and stays small', async () => {
    const result = await build({
      entryPoints: [ENTRY],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.length > 0);
    for (const input of inputs) assert.match(input, /shared\/src\/http\/[a-z-]+\.js$/, `the bundle takes ${input}`);
    const code = result.outputFiles[0]?.contents ?? new Uint8Array();
    const gzipped = gzipSync(code, { level: 9 }).length;
    console.log(`celerity/http: ${code.length} bytes minified, ${gzipped} bytes minified and gzipped`);
    assert.ok(gzipped <= MAX_GZIPPED_BYTES, `${gzipped} bytes gzipped`);
  });

  it('knows the same final states as the gateway', () => {
    assert.deepEqual([...FINAL_STATES].sort(), [...CORE_FINAL_STATES].sort());
  });
});
