import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, Options } from '@mikro-orm/sqlite';
import { DatabaseConfig, loadConfig } from './src/config/app-config';
import { migrationsList } from './src/database/migrations';
import { AgentRecord } from './src/registry/agent-record.entity';

interface SqliteConnection {
  exec(sql: string, callback: (error: Error | null) => void): void;
}

/**
 * WAL lets readers run beside the writer; synchronous=FULL makes every commit reach the disk before it is
 * acknowledged, so a 200 survives a crash (and a power cut). busy_timeout waits out a lock held by another
 * process instead of failing at once.
 */
const SQLITE_PRAGMAS = ['PRAGMA journal_mode = WAL', 'PRAGMA synchronous = FULL', 'PRAGMA busy_timeout = 5000'].join(
  ';',
);

/** The one MikroORM configuration, used by the app (from validated config) and by the MikroORM CLI. */
export function mikroOrmOptions(database: DatabaseConfig): Options {
  return defineConfig({
    dbName: database.sqlitePath,
    entities: [AgentRecord],
    extensions: [Migrator],
    forceUtcTimezone: true,
    pool: {
      afterCreate: (connection: SqliteConnection, done: (error: Error | null, connection: SqliteConnection) => void) =>
        connection.exec(SQLITE_PRAGMAS, (error) => done(error, connection)),
    },
    migrations: {
      // Listed explicitly so the same code runs from src (tests, CLI) and from dist; `path` is where the CLI
      // writes a new migration, which then gets added to that list.
      migrationsList,
      path: './src/database/migrations',
      pathTs: './src/database/migrations',
      snapshot: false,
      silent: true,
      transactional: true,
      allOrNothing: true,
    },
  });
}

export default () => mikroOrmOptions(loadConfig().database);
