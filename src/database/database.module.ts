import { MikroOrmModule } from '@mikro-orm/nestjs';
import { DynamicModule, Module, OnModuleInit } from '@nestjs/common';
import { ERROR_MAPPING } from '../common/problem-details.filter';
import { DatabaseConfig } from './database.config';
import { asDatabaseOutage } from './database-unavailable';
import { ClockSkewCheck } from './clock-skew-check';
import { DATABASE_FEATURES, DatabaseFeature, declareFeature } from './database-feature';
import { MigrationRunner } from './migration-runner';
import { mikroOrmOptions } from './mikro-orm-options';

const UNSEEN_FEATURE =
  'DatabaseModule.forFeature() is in a module AppModule.forRoot() could not look into (imported as a Promise), so ' +
  'its entities and migrations are not in the ORM: import that module itself, or a DynamicModule, not a Promise of one';

/** MikroORM on the database DATABASE_URL names (SQLite or PostgreSQL), migrated at boot; checks the clock. */
@Module({})
export class DatabaseModule {
  /**
   * The ORM, knowing every module's entities and migrations (`features`: AppModule.forRoot finds them in the modules
   * it composes, see featuresIn).
   */
  static forRoot(database: DatabaseConfig, features: readonly DatabaseFeature[]): DynamicModule {
    return {
      module: DatabaseModule,
      // No per-request ORM context: every write goes through the writer's own fork, every read is a plain query.
      imports: [MikroOrmModule.forRoot({ ...mikroOrmOptions(database, features), registerRequestContext: false })],
      providers: [
        MigrationRunner,
        ClockSkewCheck,
        { provide: DATABASE_FEATURES, useValue: features },
        { provide: ERROR_MAPPING, useValue: asDatabaseOutage },
      ],
      // Global for ERROR_MAPPING (the problem-details filter answers outages as 503s wherever it is registered), and
      // for DATABASE_FEATURES, which each forFeature checks its tables against.
      exports: [ERROR_MAPPING, DATABASE_FEATURES],
      global: true,
    };
  }

  /**
   * A module's own tables: import `DatabaseModule.forFeature({ entities, migrations: { sqlite, postgresql } })` in
   * the module. Its entities join the ORM (and their repositories become injectable in the module); its migrations run
   * at boot after the core's (and with `npm run migrate`), recorded in the same migrations table.
   */
  static forFeature(feature: DatabaseFeature): DynamicModule {
    const orm = MikroOrmModule.forFeature(feature.entities ?? []);
    // The tables must be known before Nest builds any module: a forFeature that AppModule.forRoot could not see (in
    // a module imported as a Promise) stops the boot, rather than run without its migrations.
    const known = {
      provide: Symbol('database-feature-known'),
      inject: [DATABASE_FEATURES],
      // At init rather than in this factory: the app then exists, and one that is closed on failure (the tests'
      // createTestApp) closes its ORM too. (A feature with entities fails earlier, in MikroORM's repositories.)
      useFactory: (features: readonly DatabaseFeature[]): OnModuleInit => ({
        onModuleInit: () => {
          if (!features.includes(feature)) throw new Error(UNSEEN_FEATURE);
        },
      }),
    };
    return declareFeature({ module: DatabaseModule, imports: [orm], providers: [known], exports: [orm] }, feature);
  }
}
