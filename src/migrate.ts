import { Logger } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/core';
import { mikroOrmOptions } from '../mikro-orm.config';
import { loadConfig } from './app.config';
import { ConfigError } from './config/environment';
import { applyMigrations } from './database/migration-runner';

/** `npm run migrate`: applies pending migrations and exits, for deployments that boot with MIGRATE_ON_BOOT=false. */
async function migrate(): Promise<void> {
  const { database } = loadConfig();
  const orm = await MikroORM.init(mikroOrmOptions(database));
  try {
    await applyMigrations(orm, database, new Logger('Migrate'));
  } finally {
    await orm.close();
  }
}

migrate().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
