import type { Dialect } from '../../src/database/dialect';
import { knex, Knex } from '@mikro-orm/knex';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PG_AVAILABLE, PG_RUN_PREFIX, pgTestUrl } from './pg-test-env';
import { tempDir } from './temp-dir';

export type { Dialect } from '../../src/database/dialect';

/** The databases every e2e suite runs on: SQLite always, PostgreSQL when global-setup found it. */
export function dialects(): Dialect[] {
  return process.env[PG_AVAILABLE] === '1' ? ['sqlite', 'postgresql'] : ['sqlite'];
}

/** Dialects as `describe.each` rows, so a suite's title says which database it ran on. */
export const onEachDatabase = (): [Dialect][] => dialects().map((dialect) => [dialect]);

export interface TestDatabase {
  dialect: Dialect;
  url: string;
  /** The SQLite file's folder; for PostgreSQL a scratch folder. */
  dir: string;
  drop(): Promise<void>;
}

/**
 * A new, empty database: a SQLite file in a temp folder, or a PostgreSQL database of its own. `pgOptions` is
 * appended to PostgreSQL's CREATE DATABASE (a locale, say).
 */
export async function createTestDatabase(dialect: Dialect, pgOptions = ''): Promise<TestDatabase> {
  const { dir, remove } = tempDir();
  if (dialect === 'sqlite') {
    return { dialect, url: `sqlite:${join(dir, 'registry.sqlite')}`, dir, drop: () => Promise.resolve(remove()) };
  }
  const name = `${process.env[PG_RUN_PREFIX] ?? 'agent_registry_test_'}${randomBytes(6).toString('hex')}`;
  await withAdmin((db) => db.raw(`create database "${name}" ${pgOptions}`));
  const url = new URL(pgTestUrl());
  url.pathname = `/${name}`;
  return {
    dialect,
    url: url.toString(),
    dir,
    drop: async () => {
      await dropDatabases([name]);
      remove();
    },
  };
}

/** Drops databases even while connections are open (a test that failed half-way may have left some). */
export async function dropDatabases(names: string[]): Promise<void> {
  await withAdmin(async (db) => {
    for (const name of names) await db.raw(`drop database if exists "${name}" with (force)`);
  });
}

/** Runs `work` on a short-lived connection to the PG_TEST_URL database. */
export async function withAdmin<T>(work: (db: Knex) => Promise<T>, url = pgTestUrl()): Promise<T> {
  const db = knex({
    client: 'pg',
    connection: { connectionString: url, connectionTimeoutMillis: 3000 },
    pool: { min: 0, max: 1 },
  });
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}
