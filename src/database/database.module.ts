import { MikroOrmModule } from '@mikro-orm/nestjs';
import { SqliteDriver } from '@mikro-orm/sqlite';
import { Module } from '@nestjs/common';
import { mikroOrmOptions } from '../../mikro-orm.config';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { MigrationRunner } from './migration-runner';

@Module({
  imports: [
    MikroOrmModule.forRootAsync({
      driver: SqliteDriver,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => mikroOrmOptions(config.database),
    }),
  ],
  providers: [MigrationRunner],
})
export class DatabaseModule {}
