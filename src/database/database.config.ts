import { Transform } from 'class-transformer';
import { IsBoolean, IsString } from 'class-validator';
import { existsSync } from 'node:fs';
import { ConfigSection, Problems } from '../config/environment';
import { IntegerBetween } from '../config/parsers';
import { toBoolean } from '../config/to-boolean';

export interface DatabaseSection {
  database: DatabaseConfig;
  migrateOnBoot: boolean;
}

class DatabaseVariables {
  @IsString()
  DATABASE_URL: string = 'sqlite:./data/registry.sqlite';

  /** PostgreSQL only: SQLite always uses one connection. */
  @IntegerBetween(1, 1000)
  DATABASE_POOL_MAX: number = 10;

  /** No "off": it is also what keeps a request from hanging on a server that stopped answering. */
  @IntegerBetween(100, 3_600_000, 'a number of milliseconds')
  DATABASE_STATEMENT_TIMEOUT_MS: number = 5000;

  @IntegerBetween(100, 600_000, 'a number of milliseconds')
  DATABASE_CONNECT_TIMEOUT_MS: number = 5000;

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  MIGRATE_ON_BOOT: boolean = true;
}

export const databaseSection: ConfigSection<DatabaseVariables, DatabaseSection> = {
  variables: DatabaseVariables,
  slice(vars: DatabaseVariables, problems: Problems): DatabaseSection {
    const database = parseDatabaseUrl(vars.DATABASE_URL, {
      poolMax: vars.DATABASE_POOL_MAX,
      statementTimeoutMs: vars.DATABASE_STATEMENT_TIMEOUT_MS,
      connectTimeoutMs: vars.DATABASE_CONNECT_TIMEOUT_MS,
    });
    if (typeof database === 'string' && typeof vars.DATABASE_URL === 'string') {
      problems.add('DATABASE_URL', `DATABASE_URL=${JSON.stringify(maskPassword(vars.DATABASE_URL))} ${database}`);
    }
    return { database: database as DatabaseConfig, migrateOnBoot: vars.MIGRATE_ON_BOOT };
  },
};

/** Where the registry keeps its agents: an embedded SQLite file, or a PostgreSQL server shared by replicas. */
export type DatabaseConfig = SqliteConfig | PostgresConfig;

export interface SqliteConfig {
  dialect: 'sqlite';
  /** The URL as given; it holds no secret. */
  display: string;
  /** Path of the SQLite file, or `:memory:`. */
  path: string;
}

export interface PostgresConfig {
  dialect: 'postgresql';
  /** The URL with its password masked, for logs. */
  display: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  tls: TlsMode;
  /** CA bundle that verify-ca and verify-full trust instead of the system's CAs. */
  tlsRootCert?: string;
  poolMax: number;
  /** Server-side statement_timeout in ms (the client gives up a second later); 0 turns both off. */
  statementTimeoutMs: number;
  /** How long to wait for a new connection, or for a free one from the pool, in ms. */
  connectTimeoutMs: number;
}

/** libpq's sslmode values that node-postgres can honour. `prefer` and `allow` fall back to plaintext silently. */
export const TLS_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

export interface PoolSettings {
  poolMax: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
}

/**
 * Parses DATABASE_URL: `sqlite:<path>` or `postgresql://user:pass@host:port/db[?sslmode=…&sslrootcert=…]`.
 * Returns the config, or the reason the URL is unusable (the caller names the variable).
 */
export function parseDatabaseUrl(url: string, pool: PoolSettings): DatabaseConfig | string {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    return path ? { dialect: 'sqlite', display: url, path } : 'must name a file: sqlite:./data/registry.sqlite';
  }
  if (/^postgres(ql)?:\/\//.test(url)) return parsePostgresUrl(url, pool);
  return 'must be sqlite:<file> (e.g. sqlite:./data/registry.sqlite) or postgresql://user:password@host:5432/database';
}

function parsePostgresUrl(url: string, pool: PoolSettings): PostgresConfig | string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!parsed.hostname) return 'must name a host: postgresql://user@host:5432/database';
  if (!database || database.includes('/')) return 'must name one database: postgresql://user@host:5432/database';

  // MikroORM reads only host, port, user, password and database from a URL: any other parameter would be
  // dropped silently (a `sslmode=require` ignored means plaintext), so each one we accept is handled here.
  const unknown = [...parsed.searchParams.keys()].filter((key) => key !== 'sslmode' && key !== 'sslrootcert');
  if (unknown.length > 0) return `has unsupported parameter(s) ${unknown.join(', ')}: only sslmode and sslrootcert`;
  const tls = parsed.searchParams.get('sslmode') ?? 'disable';
  if (!isTlsMode(tls)) return `has sslmode=${tls}: use one of ${TLS_MODES.join(', ')}`;
  const tlsRootCert = parsed.searchParams.get('sslrootcert') ?? undefined;
  if (tlsRootCert !== undefined && !existsSync(tlsRootCert)) return `has sslrootcert=${tlsRootCert}: no such file`;

  return {
    dialect: 'postgresql',
    display: maskPassword(url),
    host: decodeURIComponent(parsed.hostname).replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port ? Number(parsed.port) : 5432,
    user: decodeURIComponent(parsed.username) || 'postgres',
    password: decodeURIComponent(parsed.password),
    database,
    tls,
    tlsRootCert,
    ...pool,
  };
}

function isTlsMode(value: string): value is TlsMode {
  return (TLS_MODES as readonly string[]).includes(value);
}

/** A URL's password never reaches a log line (an unescaped `@` in it included). */
export function maskPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '*****';
    return parsed.toString();
  } catch {
    return url.replace(/^([a-z]+:\/\/[^:/@]*:).*@/i, '$1*****@');
  }
}
