/**
 * One run for every tier: unit specs beside the code (src/**\/*.spec.ts) once; medium specs (test/medium/*.medium-spec.ts)
 * once, over the app's providers and real databases without HTTP; and e2e specs over the real HTTP app and real
 * databases (test/**\/*.e2e-spec.ts, which also takes the examples' examples/*\/test/*.e2e-spec.ts) once per HTTP
 * adapter, as the jest projects `express` and `fastify`.
 * `npm test` builds first, because the process-level specs start dist/. global-setup decides whether the e2e suites
 * also run on PostgreSQL (PG_TEST_URL, REQUIRE_POSTGRES).
 * @type {import('jest').Config}
 */
const project = {
  rootDir: '.',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
  moduleFileExtensions: ['ts', 'js', 'json'],
  // The client package from its sources, as tsconfig.json's paths have it; they import each other as `./x.js` (ESM).
  moduleNameMapper: {
    '^@agent-registry/client$': '<rootDir>/packages/client/src/index.ts',
    '^@agent-registry/client/package\\.json$': '<rootDir>/packages/client/package.json',
    '^@agent-registry/client/(.*)$': '<rootDir>/packages/client/src/$1',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
};
const e2e = (adapter) => ({
  ...project,
  displayName: adapter,
  testRegex: 'test/.*\\.e2e-spec\\.ts$',
  // Read by test/support/http-adapter.ts.
  globals: { HTTP_ADAPTER: adapter },
});

module.exports = {
  projects: [
    { ...project, displayName: 'unit', testRegex: 'src/.*\\.spec\\.ts$' },
    { ...project, displayName: 'medium', testRegex: 'test/medium/.*\\.medium-spec\\.ts$' },
    e2e('express'),
    e2e('fastify'),
  ],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30000,
};
