import { Logger } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/core';
import { mikroOrmOptions } from '../mikro-orm.config';
import { AppModuleOptions, CORE_FEATURE_MODULES } from './app.module';
import { AppConfig, loadConfig } from './app.config';
import { ConfigError } from './config/environment';
import { featuresIn } from './database/database-feature';
import { applyMigrations } from './database/migration-runner';

/**
 * Applies the pending migrations of the registry and of the extension modules `options.imports` names (those
 * AppModule.forRoot is given), then closes the database: what `npm run migrate` runs, and what a custom migrate
 * script of a build with extensions calls.
 */
export async function migrateDatabase(config: AppConfig, options: AppModuleOptions = {}): Promise<void> {
  const features = featuresIn([...CORE_FEATURE_MODULES, ...(options.imports ?? [])]);
  const orm = await MikroORM.init(mikroOrmOptions(config.database, features));
  try {
    await applyMigrations(orm, config.database, new Logger('Migrate'), features);
  } finally {
    await orm.close();
  }
}

/** `npm run migrate`: applies pending migrations and exits, for deployments that boot with MIGRATE_ON_BOOT=false. */
if (require.main === module) {
  migrateDatabase(loadConfig()).catch((error: unknown) => {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  });
}
