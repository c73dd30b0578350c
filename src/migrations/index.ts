import { MigrationObject } from '@mikro-orm/core';
import { DatabaseFeature } from '../database/database-feature';
import { Migration20261127014505 as PostgresInitial } from './postgresql/Migration20261127014505';
import { Migration20261127190000 as PostgresDiscovery } from './postgresql/Migration20261127190000';
import { Migration20261127220000 as PostgresSearch } from './postgresql/Migration20261127220000';
import { Migration20261127230000 as PostgresOwner } from './postgresql/Migration20261127230000';
import { Migration20261127233000 as PostgresWatermark } from './postgresql/Migration20261127233000';
import { Migration20261127234500 as PostgresExpiryGuard } from './postgresql/Migration20261127234500';
import { Migration20261207120000 as PostgresSkillSearch } from './postgresql/Migration20261207120000';
import { Migration20261207130000 as PostgresGuardPerKey } from './postgresql/Migration20261207130000';
import { Migration20261207141500 as PostgresOwnerIndex } from './postgresql/Migration20261207141500';
import { Migration20261127014505 as SqliteInitial } from './sqlite/Migration20261127014505';
import { Migration20261127190000 as SqliteDiscovery } from './sqlite/Migration20261127190000';
import { Migration20261127220000 as SqliteSearch } from './sqlite/Migration20261127220000';
import { Migration20261127230000 as SqliteOwner } from './sqlite/Migration20261127230000';
import { Migration20261127233000 as SqliteWatermark } from './sqlite/Migration20261127233000';
import { Migration20261127234500 as SqliteExpiryGuard } from './sqlite/Migration20261127234500';
import { Migration20261207120000 as SqliteSkillSearch } from './sqlite/Migration20261207120000';
import { Migration20261207130000 as SqliteGuardPerKey } from './sqlite/Migration20261207130000';
import { Migration20261207141500 as SqliteOwnerIndex } from './sqlite/Migration20261207141500';

/**
 * Every committed migration, oldest first: one set per dialect, under the same names, so both databases are at the
 * same schema version after the same migration. Add each new one to both lists. A BackfillMigration (rewriting the
 * rows already stored) runs outside the migrator's one transaction: see applyMigrations.
 */
export const sqliteMigrations: MigrationObject[] = [
  { name: 'Migration20261127014505', class: SqliteInitial },
  { name: 'Migration20261127190000', class: SqliteDiscovery },
  { name: 'Migration20261127220000', class: SqliteSearch },
  { name: 'Migration20261127230000', class: SqliteOwner },
  { name: 'Migration20261127233000', class: SqliteWatermark },
  { name: 'Migration20261127234500', class: SqliteExpiryGuard },
  { name: 'Migration20261207120000', class: SqliteSkillSearch },
  { name: 'Migration20261207130000', class: SqliteGuardPerKey },
  { name: 'Migration20261207141500', class: SqliteOwnerIndex },
];

export const postgresMigrations: MigrationObject[] = [
  { name: 'Migration20261127014505', class: PostgresInitial },
  { name: 'Migration20261127190000', class: PostgresDiscovery },
  { name: 'Migration20261127220000', class: PostgresSearch },
  { name: 'Migration20261127230000', class: PostgresOwner },
  { name: 'Migration20261127233000', class: PostgresWatermark },
  { name: 'Migration20261127234500', class: PostgresExpiryGuard },
  { name: 'Migration20261207120000', class: PostgresSkillSearch },
  { name: 'Migration20261207130000', class: PostgresGuardPerKey },
  { name: 'Migration20261207141500', class: PostgresOwnerIndex },
];

/**
 * The committed migrations as a database feature: every table the registry's own modules use (each module declares
 * its entities). Always first: modules' migrations run after these.
 */
export const CORE_MIGRATIONS: DatabaseFeature = {
  migrations: { sqlite: sqliteMigrations, postgresql: postgresMigrations },
};
