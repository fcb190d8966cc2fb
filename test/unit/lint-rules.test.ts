/**
 * The lint rules that keep the layout honest (eslint.config.js): a file over 350 lines, a deep
 * import into another shared/ folder, an import up the layers, and a deep import from gateway/ or
 * worker/ all fail `npm run lint`. Each case lints a text in place of a real file of the folder.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';

const ROOT = new URL('../../../', import.meta.url).pathname;
const eslint = new ESLint({ cwd: ROOT });

async function ruleIds(filePath: string, text: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`);
}

describe('lint rules', () => {
  it('a file over 350 lines fails', async () => {
    const text = `export const x = 1;\n${'// filler\n'.repeat(350)}`;
    assert.ok((await ruleIds('shared/src/core/names.ts', text)).some((m) => m.startsWith('max-lines')));
  });

  it('a shared/ folder reaches another only through its index, and only down the layers', async () => {
    const deep = await ruleIds('shared/src/submit/submission.ts', "import { TaskStore } from '../store/store.js';\nexport const s = TaskStore;\n");
    assert.ok(deep.some((m) => m.includes('through its index.js')), deep.join('\n'));
    const up = await ruleIds('shared/src/core/names.ts', "import { TaskStore } from '../store/index.js';\nexport const s = TaskStore;\n");
    assert.ok(up.some((m) => m.includes('shared/src/core may import only')), up.join('\n'));
    const fine = await ruleIds('shared/src/submit/submission.ts', "import { TaskStore } from '../store/index.js';\nexport const s = TaskStore;\n");
    assert.deepEqual(fine.filter((m) => m.startsWith('no-restricted-imports')), []);
  });

  it('gateway/ and worker/ reach shared/ through the folder indexes and never each other', async () => {
    const deep = await ruleIds('gateway/src/app.ts', "import { TaskStore } from '../../shared/src/store/store.js';\nexport const s = TaskStore;\n");
    assert.ok(deep.some((m) => m.includes('through its index.js')), deep.join('\n'));
    const across = await ruleIds('worker/src/worker.ts', "import { Gateway } from '../../gateway/src/gateway.js';\nexport const g = Gateway;\n");
    assert.ok(across.some((m) => m.includes('must not depend on gateway')), across.join('\n'));
  });
});
