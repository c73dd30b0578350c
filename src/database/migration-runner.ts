import { MikroORM } from '@mikro-orm/core';
import { EntityManager, Knex } from '@mikro-orm/knex';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/app-config';

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
      await applyMigrations(this.orm, this.logger);
    }
  }
}

export async function applyMigrations(orm: MikroORM, logger: Logger): Promise<void> {
  const applied = await withMigrationLock(orm, () => orm.getMigrator().up());
  if (applied.length > 0) {
    logger.log(`Applied ${applied.length} migration(s): ${applied.map((m) => m.name).join(', ')}`);
  } else {
    logger.debug('The schema is up to date');
  }
}

/**
 * MikroORM's migrator does not lock: replicas booting together would all find the same migrations pending, race to
 * create the migrations table and apply them twice. On PostgreSQL each replica first takes a session advisory lock
 * on a connection of its own (outside the pool the migrator uses, so a pool of one still works); the others wait,
 * then find nothing pending. A crashed replica's lock goes with its connection. SQLite serves one process per file.
 */
async function withMigrationLock<T>(orm: MikroORM, work: () => Promise<T>): Promise<T> {
  if (!(orm.config.getDriver() instanceof PostgreSqlDriver)) return work();
  const knex = (orm.em as EntityManager).getKnex();
  const client = knex.client as Knex.Client;
  const connection: unknown = await client.acquireRawConnection();
  try {
    // Waiting for another replica's migrations is not a statement to time out.
    await knex.raw('set statement_timeout = 0').connection(connection);
    await knex.raw('select pg_advisory_lock(?)', [MIGRATION_LOCK_KEY]).connection(connection);
    return await work();
  } finally {
    await client.destroyRawConnection(connection);
  }
}
