/**
 * One run for every tier: unit specs beside the code (src/**\/*.spec.ts) and e2e specs over the real HTTP app and
 * real databases (test/**\/*.e2e-spec.ts). `npm test` builds first, because the process-level specs start dist/.
 * @type {import('jest').Config}
 */
module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  testRegex: '(src|test)/.*\\.(spec|e2e-spec)\\.ts$',
  transform: { '^.+\\.ts$': 'ts-jest' },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 30000,
};
