import { MikroORM } from '@mikro-orm/core';
import { EntityManager, Knex } from '@mikro-orm/knex';
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { mikroOrmOptions } from '../../mikro-orm.config';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { DatabaseConfig } from '../config/database-config';

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
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.migrateOnBoot) {
      await applyMigrations(this.orm, this.config.database, this.logger);
    }
  }
}

/**
 * SQLite: migrates through the app's own connection (for `:memory:` it is the only one that sees the database).
 * PostgreSQL: through a short-lived ORM of its own without the statement timeouts, which guard requests, not
 * schema changes or the wait for another replica's migrations; see `withMigrationLock`.
 */
export async function applyMigrations(orm: MikroORM, database: DatabaseConfig, logger: Logger): Promise<void> {
  let applied: { name: string }[];
  if (database.dialect === 'sqlite') {
    applied = await orm.getMigrator().up();
  } else {
    const migrating = await MikroORM.init(mikroOrmOptions({ ...database, statementTimeoutMs: 0, poolMax: 1 }));
    try {
      applied = await withMigrationLock(migrating, () => migrating.getMigrator().up());
    } finally {
      await migrating.close(true);
    }
  }
  if (applied.length > 0) {
    logger.log(`Applied ${applied.length} migration(s): ${applied.map((m) => m.name).join(', ')}`);
  } else {
    logger.debug('The schema is up to date');
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
