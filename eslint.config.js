// Lint with type information: floating promises and type-only imports are errors,
// and gateway/ and worker/ reach shared/ only through its public entry. Import cycles are
// checked by dpdm in `npm run lint` (it follows TypeScript's resolution of `.js` specifiers).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['gateway/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/worker/**'], message: 'gateway/ must not depend on worker/.' },
        { group: ['**/examples/**'], message: 'The core knows no example app: apps are loaded by path.' },
        { regex: 'shared/src/(?!index\\.js$)', message: "Import shared/ only through 'shared/src/index.js'." },
      ] }],
    },
  },
  {
    files: ['worker/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/gateway/**'], message: 'worker/ must not depend on gateway/.' },
        { group: ['**/examples/**'], message: 'The core knows no example app: apps are loaded by path.' },
        { regex: 'shared/src/(?!index\\.js$)', message: "Import shared/ only through 'shared/src/index.js'." },
      ] }],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/gateway/**', '**/worker/**', '**/cli.js'], message: 'shared/ depends on nothing above it.' },
        { group: ['**/examples/**'], message: 'The core knows no example app: apps are loaded by path.' },
      ] }],
    },
  },
  {
    // The commands of the `celerity` CLI sit above everything (as cli.ts does): they start workers
    // and gateways. Nothing below may import them (shared/src/index.ts does not export them).
    files: ['shared/src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/cli.js'], message: 'The commands do not import the entry point.' },
        { group: ['**/examples/**'], message: 'The core knows no example app: apps are loaded by path.' },
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
