// Lint with type information: floating promises and type-only imports are errors,
// and gateway/ and worker/ reach shared/ only through its public entry. Import cycles are
// checked by dpdm in `npm run lint` (it follows TypeScript's resolution of `.js` specifiers).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * shared/src is folders by role, lowest first. A folder imports another only through that
 * folder's index.js, and only one listed below it here; gateway/, worker/, cli.ts and the
 * package entry (index.ts) reach shared/ through the folder indexes too. Tests and benches may
 * reach any module directly (they test internals). Cycles are checked by dpdm in `npm run lint`.
 */
const LAYERS = {
  core: [],
  config: ['core'],
  store: ['core', 'config'],
  broker: ['core', 'config'],
  app: ['core', 'broker'],
  auth: ['core', 'store'],
  submit: ['core', 'config', 'store', 'broker', 'app', 'auth'],
  schedule: ['core', 'config', 'store', 'broker', 'app', 'auth', 'submit'],
  client: ['core', 'config', 'store', 'broker', 'app', 'auth', 'submit', 'schedule'],
  cli: ['core', 'config', 'store', 'broker', 'app', 'auth', 'submit', 'client', 'schedule'],
  // The browser's HTTP client (`celerity/http`): it takes only types from the folders it lists,
  // so its bundle imports nothing at run time (test/unit/http-client-bundle.test.ts).
  http: ['core', 'app', 'submit', 'client'],
};
const FOLDERS = Object.keys(LAYERS);
const THROUGH_INDEX = { regex: `shared/src/(${FOLDERS.join('|')})/(?!index\\.js$)`, message: "Import a shared/ folder through its index.js." };
const NO_EXAMPLES = { group: ['**/examples/**'], message: 'The core knows no example app: apps are loaded by path.' };

function boundaries() {
  const inShared = FOLDERS.map((folder) => {
    const denied = FOLDERS.filter((other) => other !== folder && !LAYERS[folder].includes(other));
    const patterns = [
      NO_EXAMPLES,
      { group: ['**/gateway/**', '**/worker/**', '**/cli.js'], message: 'shared/ depends on nothing above it.' },
      { regex: `^\\.\\./(${FOLDERS.join('|')})/(?!index\\.js$)`, message: 'Cross into another shared/ folder through its index.js.' },
    ];
    if (denied.length > 0) patterns.push({ regex: `^\\.\\./(${denied.join('|')})/`, message: `shared/src/${folder} may import only ${LAYERS[folder].join(', ') || 'nothing in shared/'}.` });
    return { files: [`shared/src/${folder}/**/*.ts`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
  });
  const above = (name, denied) => ({
    files: [`${name}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_EXAMPLES, THROUGH_INDEX, ...denied.map((d) => ({ group: [`**/${d}/**`], message: `${name}/ must not depend on ${d}/.` }))] }] },
  });
  return [
    ...inShared,
    above('gateway', ['worker']),
    above('worker', ['gateway']),
    { files: ['cli.ts', 'index.ts'], rules: { 'no-restricted-imports': ['error', { patterns: [NO_EXAMPLES, THROUGH_INDEX] }] } },
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'scripts/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      // One import statement per module (a type-only one may stand beside it).
      'no-duplicate-imports': ['error', { allowSeparateTypeImports: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The cap holds by itself: a file past it is split by role, not squeezed.
    files: ['**/*.ts', 'gateway/dashboard/**/*.js'],
    rules: { 'max-lines': ['error', { max: 350 }] },
  },
  ...boundaries(),
  {
    // `celerity/http` runs in browsers: from outside its folder it takes types only.
    files: ['shared/src/http/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [
        { group: ['../*', 'node:*', '!./*'], allowTypeImports: true, message: 'celerity/http imports nothing at run time from outside its folder (it is bundled for browsers).' },
      ] }],
    },
  },
  {
    // An example app is written as a user writes one: against the package's root entry only.
    files: ['examples/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { regex: '^\\.\\./.*/((shared|gateway|worker)/|cli\\.js$)', message: "Import Celerity through its root entry ('../../index.js'), as users import 'celerity'." },
      ] }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // node:test's describe/it return promises that the runner itself tracks.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    // The container image's healthcheck: plain Node ESM run without a build step.
    files: ['deploy/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: { process: 'readonly', fetch: 'readonly', AbortSignal: 'readonly' },
    },
  },
  {
    // The example web page (examples/web): browser ES modules, no build step.
    files: ['examples/web/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: { document: 'readonly', fetch: 'readonly', location: 'readonly', URLSearchParams: 'readonly', AbortController: 'readonly' },
    },
  },
  {
    // The dashboard's browser script: no TypeScript project, browser globals, no build step.
    files: ['gateway/dashboard/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'script',
      globals: {
        window: 'readonly', document: 'readonly', fetch: 'readonly', URL: 'readonly', URLSearchParams: 'readonly',
        FormData: 'readonly', Node: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', uPlot: 'readonly',
      },
    },
  },
);
