import { PG_AVAILABLE, PG_RUN_PREFIX } from './pg-test-env';
import { pgAdminQuery } from './global-setup';

/** Drops any database this run created and a failed test left behind. */
export default function globalTeardown(): void {
  const prefix = process.env[PG_RUN_PREFIX];
  if (process.env[PG_AVAILABLE] !== '1' || !prefix || !/^\w+$/.test(prefix)) return;
  const rows = pgAdminQuery(`select datname from pg_database where starts_with(datname, '${prefix}')`);
  for (const { datname } of rows) pgAdminQuery(`drop database if exists "${String(datname)}" with (force)`);
}
