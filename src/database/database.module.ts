import { MikroOrmModule } from '@mikro-orm/nestjs';
import { DynamicModule, Module } from '@nestjs/common';
import { mikroOrmOptions } from '../../mikro-orm.config';
import { ERROR_MAPPING } from '../common/problem-details.filter';
import { DatabaseConfig } from './database.config';
import { asDatabaseOutage } from './database-unavailable';
import { ClockSkewCheck } from './clock-skew-check';
import { MigrationRunner } from './migration-runner';

/** MikroORM on the database DATABASE_URL names (SQLite or PostgreSQL), migrated at boot; checks the clock. */
@Module({})
export class DatabaseModule {
  static forRoot(database: DatabaseConfig): DynamicModule {
    return {
      module: DatabaseModule,
      // No per-request ORM context: every write goes through the writer's own fork, every read is a plain query.
      imports: [MikroOrmModule.forRoot({ ...mikroOrmOptions(database), registerRequestContext: false })],
      providers: [MigrationRunner, ClockSkewCheck, { provide: ERROR_MAPPING, useValue: asDatabaseOutage }],
      // Global for ERROR_MAPPING: the problem-details filter answers outages as 503s wherever it is registered.
      exports: [ERROR_MAPPING],
      global: true,
    };
  }
}
