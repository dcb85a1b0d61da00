// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const kubernetesTypes = {
  paths: [{ name: '@kubernetes/client-node', message: 'The routing model and the compile stage never see Kubernetes types (DESIGN rule 1).' }],
  patterns: [
    { group: ['**/sources/**', '**/build/**', '**/state/**'], message: 'model/, compile/ and snapshot/ depend on nothing upstream of them (no Kubernetes objects).' },
    { group: ['../../*/**', '../../../*/**'], message: 'Import other workspaces by package name (@portico/*), never by relative path.' },
  ],
};

// A data-plane worker imports the policy modules to run their steps and must not load zod
// (docs/dataplane.md, "What a worker loads"): a module's schema is a function of zod's namespace,
// and policies/schema.ts, which the worker never imports, is the one file there that loads zod.
const workerSafe = {
  paths: [...kubernetesTypes.paths, { name: 'zod', allowTypeImports: true, message: 'A data-plane worker imports this folder: write `schema: (z) => z.…` and import zod as a type only; policies/schema.ts builds the schemas.' }],
  patterns: kubernetesTypes.patterns,
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'assembly/build/**', 'dataplane/build/**', 'assembly/src/wasm/**', 'test/cluster/.bin/**', '.turbo/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2024, sourceType: 'module' },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'TSEnumDeclaration', message: 'Node runs TypeScript by type stripping: no enums.' }],
    },
  },
  {
    files: ['control/src/model/**/*.ts', 'control/src/compile/**/*.ts', 'control/src/snapshot/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', kubernetesTypes] },
  },
  {
    files: ['control/src/snapshot/policies/**/*.ts'],
    ignores: ['**/*.test.ts', 'control/src/snapshot/policies/schema.ts'],
    rules: { 'no-restricted-imports': ['error', workerSafe] },
  },
);
