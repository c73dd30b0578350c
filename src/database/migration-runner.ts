import { MigrationObject, MikroORM } from '@mikro-orm/core';
import { EntityManager, Knex } from '@mikro-orm/knex';
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG } from '../config/environment';
import { DatabaseConfig, DatabaseSection } from './database.config';
import { BackfillMigration } from './backfill-migration';
import { DATABASE_FEATURES, DatabaseFeature } from './database-feature';
import { mikroOrmOptions } from './mikro-orm-options';

/** The advisory lock replicas take to migrate one at a time: any constant unique to this application. */
export const MIGRATION_LOCK_KEY = 0x61676e74; // "agnt"

/**
 * Applies the committed migrations before the app serves anything (the schema is never synchronised from the
 * entities). MIGRATE_ON_BOOT=false leaves that to `npm run migrate`.
 */
@Injectable()
export class MigrationRunner implements OnModuleInit {
  private readonly logger = new Logger(MigrationRunner.name);

  constructor(
    private readonly orm: MikroORM,
    @Inject(APP_CONFIG) private readonly config: DatabaseSection,
    @Inject(DATABASE_FEATURES) private readonly features: readonly DatabaseFeature[],
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.migrateOnBoot) {
      await applyMigrations(this.orm, this.config.database, this.logger, this.features);
    }
  }
}

/**
 * SQLite: migrates through the app's own connection (for `:memory:` it is the only one that sees the database).
 * PostgreSQL: through a short-lived ORM of its own without the statement timeouts, which guard requests, not
 * schema changes or the wait for another replica's migrations; see `withMigrationLock`. `features` are the modules'
 * (see DatabaseModule.forFeature), as `orm` was configured with them.
 */
export async function applyMigrations(
  orm: MikroORM,
  database: DatabaseConfig,
  logger: Logger,
  features: readonly DatabaseFeature[],
): Promise<void> {
  let applied: string[];
  if (database.dialect === 'sqlite') {
    applied = await migrateUp(orm, logger);
  } else {
    const migrating = await MikroORM.init(
      mikroOrmOptions({ ...database, statementTimeoutMs: 0, poolMax: 1 }, features),
    );
    try {
      applied = await withMigrationLock(migrating, () => migrateUp(migrating, logger));
    } finally {
      await migrating.close(true);
    }
  }
  if (applied.length > 0) {
    logger.log(`Applied ${applied.length} migration(s): ${applied.join(', ')}`);
  } else {
    logger.debug('The schema is up to date');
  }
}

/**
 * The migrator's `up()`, which applies every pending migration in one transaction, except that a pending
 * BackfillMigration ends that transaction: the migrations before it are applied (in one transaction), then its
 * backfill runs in transactions of its own, then it is recorded as applied, and so on. Answers the names applied.
 */
async function migrateUp(orm: MikroORM, logger: Logger): Promise<string[]> {
  const migrator = orm.getMigrator();
  const list: MigrationObject[] = (orm.config.get('migrations').migrationsList ?? []).map((m) =>
    typeof m === 'function' ? { name: m.name, class: m } : m,
  );
  const backfillNamed = (name: string) =>
    list.find((m) => m.name === name && m.class.prototype instanceof BackfillMigration);
  const applied: string[] = [];
  for (;;) {
    const pending = (await migrator.getPendingMigrations()).map((m) => m.name);
    const next = pending.findIndex((name) => backfillNamed(name) !== undefined);
    if (next < 0) return [...applied, ...(await migrator.up()).map((m) => m.name)];
    if (next > 0) applied.push(...(await migrator.up({ to: pending[next - 1] })).map((m) => m.name));
    const { name, class: Backfill } = backfillNamed(pending[next])!;
    const migration = new Backfill(orm.em.getDriver(), orm.config) as BackfillMigration;
    const rewritten = await BackfillMigration.run(name, migration);
    if (rewritten > 0) logger.log(`${name} rewrote ${rewritten} row(s)`);
    applied.push(...(await migrator.up({ to: name })).map((m) => m.name));
  }
}

/**
 * MikroORM's migrator does not lock: replicas booting together would all find the same migrations pending, race to
 * create the migrations table and apply them twice. Each replica first takes a session advisory lock on a
 * connection of its own (outside the pool the migrator uses); the others wait for it, then find nothing pending.
 * A crashed replica's lock goes with its connection.
 */
async function withMigrationLock<T>(orm: MikroORM, work: () => Promise<T>): Promise<T> {
  const knex = (orm.em as EntityManager).getKnex();
  const client = knex.client as Knex.Client;
  const connection: unknown = await client.acquireRawConnection();
  try {
    await knex.raw('select pg_advisory_lock(?)', [MIGRATION_LOCK_KEY]).connection(connection);
    return await work();
  } finally {
    await client.destroyRawConnection(connection);
  }
}
