// Lint configuration: typescript-eslint's type-aware rules over the TypeScript sources.
// `npm test` (and `npm run lint`) run it and expect zero findings.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.gatehouse/**', 'coverage/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's describe/it/test return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      // Passing on a caught value unchanged (typed `unknown`) is allowed; rejecting with
      // a literal or any other non-Error is still reported.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // `const { field: _, ...rest } = o` is how a test drops one field from a body.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // A `let` assigned after a closure that reads it was written (a child's pid the
      // sampler reads once the child exists) cannot be `const`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Registry is an asynchronous port (other backends may do I/O); this backend is
    // synchronous underneath, and `async` is what turns its synchronous throws
    // (RegistryError on a bad name, a busy database) into rejections, as callers expect.
    // The control store (ControlStore port) is built the same way over the same database.
    files: ['src/identity/sqlite-registry.ts', 'src/identity/sqlite-control.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
