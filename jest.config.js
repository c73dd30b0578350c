/**
 * One run for every tier: unit specs beside the code (src/**\/*.spec.ts) and e2e specs over the real HTTP app and
 * real databases (test/**\/*.e2e-spec.ts). `npm test` builds first, because the process-level specs start dist/.
 * global-setup decides whether the e2e suites also run on PostgreSQL (PG_TEST_URL, REQUIRE_POSTGRES).
 * @type {import('jest').Config}
 */
module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  testRegex: '(src|test)/.*\\.(spec|e2e-spec)\\.ts$',
  transform: { '^.+\\.ts$': 'ts-jest' },
  moduleFileExtensions: ['ts', 'js', 'json'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30000,
};
