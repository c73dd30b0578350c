import { Options } from '@mikro-orm/core';
import { AppModuleOptions, databaseFeatures } from './src/app.module';
import { loadConfig } from './src/app.config';
import { DatabaseConfig } from './src/database/database.config';
import { mikroOrmOptions } from './src/database/mikro-orm-options';

/**
 * The registry's MikroORM options for `database`: the committed migrations, then the tables of its modules and of the
 * extension modules `options.imports` names (as AppModule.forRoot composes them). Tests, the bench and the MikroORM
 * CLI use it; a build with extensions points the CLI at a config of its own that passes them.
 */
export function registryOrmOptions(database: DatabaseConfig, options: AppModuleOptions = {}): Options {
  return mikroOrmOptions(database, databaseFeatures(options.imports));
}

/** The MikroORM CLI's configuration (package.json "mikro-orm"): the plain registry's tables, from the environment. */
export default () => registryOrmOptions(loadConfig().database);
