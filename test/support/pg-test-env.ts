/**
 * What global-setup tells the suites about PostgreSQL, through the environment the test workers inherit. This file
 * imports nothing: global setup runs outside the test sandbox, where loading MikroORM or knex leaves module state
 * behind that breaks MikroORM inside the suites.
 */

/** '1' when PostgreSQL answered at PG_TEST_URL. */
export const PG_AVAILABLE = 'AGENT_REGISTRY_TEST_PG';
/** The prefix of every database this run creates, so global-teardown can drop leftovers. */
export const PG_RUN_PREFIX = 'AGENT_REGISTRY_TEST_PG_PREFIX';

export function pgTestUrl(): string {
  return process.env.PG_TEST_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';
}
