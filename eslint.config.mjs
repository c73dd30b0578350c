// Type-aware lint as a gate: floating or misused promises and loose equality fail the build.
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // packages/client/src/openapi.ts is generated (npm run client:types) and checked current by test/docs.e2e-spec.ts.
  {
    ignores: [
      'dist/',
      'node_modules/',
      'coverage/',
      'data/',
      'packages/client/dist/',
      'packages/client/src/openapi.ts',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      eqeqeq: ['error', 'always'],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests read untyped JSON response bodies; asserting on them is the point.
    files: ['test/**/*.ts', 'examples/*/test/**/*.ts', '**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module' },
  },
  {
    // The client package's plain scripts, in no tsconfig: its bin stub (CommonJS) and its build script (ESM).
    files: ['packages/client/bin/*.cjs', 'packages/client/scripts/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { parserOptions: { projectService: false, project: false } },
  },
  {
    files: ['packages/client/bin/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The dashboard's browser modules (served as they are, no build step): the browser globals they use.
    files: ['src/dashboard/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      // Untyped, and in no tsconfig: no type-aware rules (disableTypeChecked's parser options are replaced above).
      parserOptions: { projectService: false, project: false },
      globals: Object.fromEntries(
        [
          'AbortController',
          'clearTimeout',
          'Date',
          'document',
          'fetch',
          'Node',
          'sessionStorage',
          'setInterval',
          'setTimeout',
          'TextDecoderStream',
          'URLSearchParams',
          'window',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
  prettier,
);
