import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { maskPassword } from '../../src/database/database.config';
import { PG_AVAILABLE, PG_RUN_PREFIX, pgTestUrl } from './pg-test-env';

/**
 * Runs SQL on PG_TEST_URL in a child process and returns the rows. Global setup and teardown run outside the test
 * sandbox: loading MikroORM or knex here would leave module state behind that breaks MikroORM inside the suites.
 */
export function pgAdminQuery(sql: string): Record<string, unknown>[] {
  const script = `
    const { Client } = require('pg');
    const client = new Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 });
    client.connect()
      .then(() => client.query(process.argv[2]))
      .then((result) => process.stdout.write(JSON.stringify(result.rows ?? [])))
      .catch((error) => { process.stderr.write(error.message || String(error)); process.exitCode = 1; })
      .finally(() => client.end().catch(() => undefined));`;
  const output = execFileSync(process.execPath, ['-e', script, pgTestUrl(), sql], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10_000,
  });
  return JSON.parse(output) as Record<string, unknown>[];
}

/**
 * Decides once per `npm test` whether the e2e suites also run on PostgreSQL. Without it they run on SQLite and say
 * so; with REQUIRE_POSTGRES=1 (CI) an unreachable PostgreSQL fails the run instead.
 */
export default function globalSetup(): void {
  const shown = maskPassword(pgTestUrl());
  try {
    pgAdminQuery('select 1');
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    const reason = stderr || (error instanceof Error ? error.message : String(error));
    if (process.env.REQUIRE_POSTGRES === '1') {
      throw new Error(`REQUIRE_POSTGRES=1 but PostgreSQL is not reachable at PG_TEST_URL=${shown}: ${reason}`);
    }
    console.log(
      `\n[agent-registry] PostgreSQL is not reachable at PG_TEST_URL=${shown} (${reason}): ` +
        'SKIPPING the PostgreSQL half of the e2e suites, which run on SQLite only.\n',
    );
    process.env[PG_AVAILABLE] = '0';
    return;
  }
  console.log(`\n[agent-registry] e2e suites run on SQLite and on PostgreSQL at ${shown} (a database per test).\n`);
  process.env[PG_AVAILABLE] = '1';
  process.env[PG_RUN_PREFIX] = `agent_registry_test_${randomBytes(3).toString('hex')}_`;
}
