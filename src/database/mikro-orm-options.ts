import { defineConfig, Options } from '@mikro-orm/core';
import { Logger } from '@nestjs/common';
import { Migrator } from '@mikro-orm/migrations';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { SqliteDriver } from '@mikro-orm/sqlite';
import { readFileSync } from 'node:fs';
import { ConnectionOptions } from 'node:tls';
import { DatabaseConfig, PostgresConfig, SqliteConfig } from './database.config';
import { DatabaseFeature, mergeFeatures } from './database-feature';

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

/** A query the server does not answer fails this long after its statement_timeout would have fired. */
const CLIENT_TIMEOUT_MARGIN_MS = 1000;

/**
 * The MikroORM options for `database` and the tables of `features` (their entities, and their migrations in order:
 * see DatabaseModule.forFeature), as the app, `npm run migrate` and the MikroORM CLI (mikro-orm.config.ts) use them.
 * The URL picks the driver; everything else about the dialect stays in MikroORM and the migrations.
 */
export function mikroOrmOptions(database: DatabaseConfig, features: readonly DatabaseFeature[]): Options {
  const { entities, migrations } = mergeFeatures(features, database.dialect);
  return defineConfig({
    entities,
    extensions: [Migrator],
    forceUtcTimezone: true,
    ...(database.dialect === 'sqlite' ? sqliteOptions(database) : postgresOptions(database)),
    // agent_search and its shadow tables are SQLite's FTS5 trigram index, made by a migration and kept by triggers;
    // MikroORM cannot describe a virtual table, and must not read it as one of its own.
    schemaGenerator: { skipTables: [/^agent_search(_|$)/] },
    migrations: {
      // Listed explicitly (one set per dialect) so the same code runs from src (tests, CLI) and from dist; `path`
      // is where the CLI writes a new migration, which then gets added to its dialect's list.
      migrationsList: migrations,
      path: `./src/migrations/${database.dialect}`,
      pathTs: `./src/migrations/${database.dialect}`,
      snapshot: false,
      silent: true,
      transactional: true,
      allOrNothing: true,
    },
  });
}

function sqliteOptions(database: SqliteConfig): Options {
  return {
    driver: SqliteDriver,
    dbName: database.path,
    pool: {
      afterCreate: (connection: SqliteConnection, done: (error: Error | null, connection: SqliteConnection) => void) =>
        connection.exec(SQLITE_PRAGMAS, (error) => done(error, connection)),
    },
  };
}

function postgresOptions(database: PostgresConfig): Options {
  const statementTimeout = database.statementTimeoutMs;
  return {
    driver: PostgreSqlDriver,
    host: database.host,
    port: database.port,
    user: database.user,
    password: database.password,
    dbName: database.database,
    // min 0: an outage leaves no broken connections behind to hand out when the server is back.
    pool: { min: 0, max: database.poolMax, acquireTimeoutMillis: database.connectTimeoutMs },
    driverOptions: {
      // knex's pool options that MikroORM's `pool` type does not carry.
      pool: {
        // A client whose last query timed out on our side may still be waiting for that answer: never reuse it.
        validate: (client: { readyForQuery?: boolean }) => client.readyForQuery === true,
        // Every connection is replaced within 10–11 minutes, so after a failover that moves the server's address
        // (DNS) every replica reaches the new primary by itself; the jitter spreads the reconnects.
        maxConnectionLifetimeMillis: 10 * 60_000,
        maxConnectionLifetimeJitterMillis: 60_000,
      },
      acquireConnectionTimeout: database.connectTimeoutMs,
      log: KNEX_LOG,
      connection: {
        ssl: tlsOptions(database),
        connectionTimeoutMillis: database.connectTimeoutMs,
        // 0 (off) only for the migrations' own connection: see applyMigrations.
        statement_timeout: statementTimeout || undefined,
        // The server enforces statement_timeout; this also ends a wait on a server that stopped answering.
        query_timeout: statementTimeout ? statementTimeout + CLIENT_TIMEOUT_MARGIN_MS : undefined,
        // TCP keepalive notices a server that vanished without closing the connection (a network partition).
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        application_name: 'agent-registry',
      },
    },
  };
}

/** knex's own warnings (a connection that broke, say) go to the app's log instead of the console. */
const knexLogger = new Logger('Database');
const KNEX_LOG = {
  warn: (message: unknown) => knexLogger.warn(String(message)),
  error: (message: unknown) => knexLogger.error(String(message)),
  deprecate: (message: unknown) => knexLogger.debug(String(message)),
  debug: (message: unknown) => knexLogger.debug(String(message)),
};

/**
 * sslmode as libpq means it: require encrypts without checking the certificate (unless sslrootcert is given: then,
 * as in libpq, it checks the chain like verify-ca); verify-ca checks the chain; verify-full also the host name.
 */
function tlsOptions({ tls, tlsRootCert }: PostgresConfig): ConnectionOptions | false {
  if (tls === 'disable') return false;
  if (tls === 'require' && !tlsRootCert) return { rejectUnauthorized: false };
  const ca = tlsRootCert ? readFileSync(tlsRootCert) : undefined;
  return tls === 'verify-full' ? { ca } : { ca, checkServerIdentity: () => undefined };
}
