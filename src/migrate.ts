import { Logger } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/core';
import { AppModuleOptions, databaseFeatures } from './app.module';
import { AppConfig, loadConfig } from './app.config';
import { ConfigError } from './config/environment';
import { applyMigrations } from './database/migration-runner';
import { mikroOrmOptions } from './database/mikro-orm-options';

/**
 * Applies the pending migrations of the registry and of the extension modules `options.imports` names (those
 * AppModule.forRoot is given), then closes the database: what `npm run migrate` runs, and what a custom migrate
 * script of a build with extensions calls.
 */
export async function migrateDatabase(config: AppConfig, options: AppModuleOptions = {}): Promise<void> {
  const features = databaseFeatures(options.imports);
  const orm = await MikroORM.init(mikroOrmOptions(config.database, features));
  try {
    await applyMigrations(orm, config.database, new Logger('Migrate'), features);
  } finally {
    await orm.close();
  }
}

/** `npm run migrate`: applies pending migrations and exits, for deployments that boot with MIGRATE_ON_BOOT=false. */
if (require.main === module) {
  // loadConfig inside the promise: a ConfigError is printed as its message, like every other failure here.
  Promise.resolve()
    .then(() => migrateDatabase(loadConfig()))
    .catch((error: unknown) => {
      console.error(error instanceof ConfigError ? error.message : error);
      process.exit(1);
    });
}
