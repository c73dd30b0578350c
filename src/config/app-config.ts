import { applyDecorators, LogLevel } from '@nestjs/common';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  validateSync,
} from 'class-validator';
import { validateCronExpression } from 'cron';
import { gapText, longestCronGapMs } from './cron-gap';
import { toBoolean } from '../common/to-boolean';
import { readFileSync } from 'node:fs';
import { ApiKey, keySetProblems, parseKeysFile, parseKeysVariable } from '../auth/api-keys';
import type { RateLimit } from '../auth/rate-limit';
import { toInteger } from '../common/to-integer';
import { DatabaseConfig, maskPassword, parseDatabaseUrl } from './database-config';

/** The settings the registry runs with, validated once at boot from the environment. */
export interface AppConfig {
  port: number;
  host: string;
  httpAdapter: HttpAdapterName;
  database: DatabaseConfig;
  /** When the cleanup runs; undefined (CLEANUP_CRON=off) when this replica never runs it. */
  cleanupCron: string | undefined;
  bodyLimitBytes: number;
  logLevels: LogLevel[];
  /** One JSON object per line, or pino-pretty's coloured lines for a terminal. */
  logFormat: LogFormat;
  migrateOnBoot: boolean;
  /** Most writes one group commit takes. */
  writeBatchMax: number;
  /** Most writes waiting for a group commit before new ones get 503. */
  writeQueueMax: number;
  /** How long the event log keeps events; resuming from an older revision is a 410. */
  eventsRetentionMs: number;
  /** How often an event stream sends a comment line, so proxies and clients see it alive. */
  eventsKeepaliveMs: number;
  /** Bytes a watcher's client may fall behind before it is disconnected. */
  eventsClientBufferBytes: number;
  /** How often each replica reads the event log for other replicas' events. */
  eventsPollMs: number;
  auth: AuthConfig;
  /** Browser origins allowed to call the API (CORS); none when empty. */
  corsOrigins: string[];
  /** Longest wait for a request's headers, and for the whole request, before the connection is closed (408). */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** How long an idle kept-alive connection stays open: longer than a load balancer's idle timeout, so it closes first. */
  keepAliveTimeoutMs: number;
  /** Requests per key (per client address without keys) per window; undefined: unlimited. */
  rateLimit?: RateLimit;
  /** Heartbeats per agent per window; undefined: unlimited. */
  heartbeatLimit?: RateLimit;
  /** A gap this long without any replica serving extends the leases that ran out in it; undefined: never. */
  restartGraceAfterMs?: number;
  /** Longest a signalled shutdown may take (see HttpDrain). */
  shutdownTimeoutMs: number;
  /** The mass-expiry guard (see ExpiryGuard). */
  expiryGuard: { ratio: number; min: number; maxMs: number };
  /** Per-key quotas (see AgentQuota, WatchSlots); undefined: off. */
  quotas: QuotaConfig;
}

/**
 * What one key may hold: agents (AGENT_QUOTA, all replicas together; a key's own `agents=` in the keys file wins)
 * and open event streams (WATCH_STREAMS_PER_KEY), and how many event streams one replica serves (WATCH_STREAMS_MAX).
 * Undefined: no limit.
 */
export interface QuotaConfig {
  agentsPerKey?: number;
  watchStreamsPerKey?: number;
  watchStreamsMax?: number;
}

/**
 * Who may call the registry: `keys` (an API key on every request but the open ones), `protected` (no keys are
 * configured: loopback clients only) or `off` (REGISTRY_AUTH=off: everyone, openly).
 */
export interface AuthConfig {
  mode: 'keys' | 'protected' | 'off';
  keys: ApiKey[];
  /** REGISTRY_API_KEYS_FILE, read again on SIGHUP (KeysFileReload). */
  keysFile?: string;
  /** Served to everyone whatever the mode; the others need the `reader` role (or loopback, in protected mode). */
  openRoutes: OpenRoute[];
  /** Failed authentications per client address per window (AuthFailures); undefined: unlimited. */
  failureLimit?: RateLimit;
}

/** Routes that may be opened to callers without a key (REGISTRY_OPEN_ROUTES): health probes, API docs, /metrics. */
export const OPEN_ROUTES = ['probes', 'docs', 'metrics'] as const;
/** Open unless REGISTRY_OPEN_ROUTES says otherwise. */
const OPEN_BY_DEFAULT: OpenRoute[] = ['probes', 'docs'];
export type OpenRoute = (typeof OPEN_ROUTES)[number];

export const APP_CONFIG = Symbol('APP_CONFIG');

/** The HTTP server under Nest: Express (the default) or Fastify (more requests per second, same behaviour). */
export const HTTP_ADAPTERS = ['express', 'fastify'] as const;
export type HttpAdapterName = (typeof HTTP_ADAPTERS)[number];

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];
const LOG_LEVEL_NAMES = [...LOG_LEVELS, 'info'];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
const BODY_LIMIT = /^(\d+)\s*(b|kb|mb)?$/i;
const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024 };
const DURATION = /^(\d+)\s*(ms|s|m|h|d)?$/i;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `N/duration` (at most N requests in each window of that duration), or `off`. */
const RATE = /^(off|\d+\s*\/\s*\d+\s*(ms|s|m|h)?)$/i;
const RATE_RULE = 'must be a number of requests per duration, such as 100/1s or 10/10s, or off';

function parseRate(value: string): RateLimit | undefined {
  if (value.trim().toLowerCase() === 'off') return undefined;
  const [limit, window] = value.split('/');
  return { limit: Number(limit.trim()), windowMs: parseDuration(window)! };
}

/** `90`, `90s`, `15m`, `1h`, `7d` (a bare number is seconds) in milliseconds. */
function parseDuration(value: string): number | undefined {
  const match = DURATION.exec(value.trim());
  return match ? Number(match[1]) * DURATION_UNITS[(match[2] ?? 's').toLowerCase()] : undefined;
}

function parseBodyLimit(value: string): number | undefined {
  const match = BODY_LIMIT.exec(value.trim());
  return match ? Number(match[1]) * UNITS[(match[2] ?? 'b').toLowerCase()] : undefined;
}

/** A quota: a count, or `off`. */
const COUNT_OR_OFF = /^\s*(off|\d{1,9})\s*$/i;
const QUOTA_MAX = 100_000_000;
const QUOTA_RULES = {
  AGENT_QUOTA: `a number of agents between 1 and ${QUOTA_MAX}, or off`,
  WATCH_STREAMS_PER_KEY: `a number of event streams between 1 and ${QUOTA_MAX}, or off`,
  WATCH_STREAMS_MAX: `a number of event streams between 1 and ${QUOTA_MAX}, or off`,
} as const;

/** A quota variable that passed COUNT_OR_OFF: its count, undefined for `off`; out of range is a problem. */
function quotaOf(variable: keyof typeof QUOTA_RULES, value: string, problems: string[]): number | undefined {
  if (!COUNT_OR_OFF.test(value) || value.trim().toLowerCase() === 'off') return undefined;
  const count = Number(value.trim());
  if (count < 1 || count > QUOTA_MAX)
    problems.push(`${variable}=${JSON.stringify(value)} must be ${QUOTA_RULES[variable]}`);
  return count;
}

/** An integer variable from `min` to `max`, with one message that names the range. */
function IntegerBetween(min: number, max: number, what = 'an integer'): PropertyDecorator {
  const message = `must be ${what} between ${min} and ${max}`;
  return applyDecorators(Transform(toInteger), IsInt({ message }), Min(min, { message }), Max(max, { message }));
}

/** The environment variables the registry reads, with their defaults. README's config table mirrors this class. */
class EnvironmentVariables {
  @IntegerBetween(0, 65535)
  PORT: number = 3000;

  @IsString()
  @IsNotEmpty({ message: 'must not be empty' })
  HOST: string = '0.0.0.0';

  @IsIn(HTTP_ADAPTERS, { message: `must be one of ${HTTP_ADAPTERS.join(', ')}` })
  HTTP_ADAPTER: HttpAdapterName = 'express';

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

  /** A cron expression with seconds, or `off`: this replica never runs the cleanup (another one does). */
  @IsString()
  CLEANUP_CRON: string = '0 * * * * *';

  @IsString()
  @Matches(BODY_LIMIT, { message: 'must be a size in bytes, optionally with a unit: 65536, 64kb, 1mb' })
  BODY_LIMIT: string = '128kb';

  @IsIn(LOG_LEVEL_NAMES, { message: `must be one of ${LOG_LEVEL_NAMES.join(', ')}` })
  LOG_LEVEL: string = 'log';

  @IsIn(LOG_FORMATS, { message: `must be one of ${LOG_FORMATS.join(', ')}` })
  LOG_FORMAT: LogFormat = 'json';

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  MIGRATE_ON_BOOT: boolean = true;

  @IntegerBetween(1, 5000)
  WRITE_BATCH_MAX: number = 500;

  @IntegerBetween(1, 1_000_000)
  WRITE_QUEUE_MAX: number = 10_000;

  @IsString()
  @Matches(DURATION, { message: 'must be a duration: seconds, or with a unit: 90s, 15m, 1h, 7d' })
  EVENTS_RETENTION: string = '1h';

  @IntegerBetween(1, 300)
  EVENTS_KEEPALIVE_SECONDS: number = 15;

  @IsString()
  @Matches(BODY_LIMIT, { message: 'must be a size in bytes, optionally with a unit: 65536, 64kb, 1mb' })
  EVENTS_CLIENT_BUFFER: string = '1mb';

  @IntegerBetween(10, 60_000, 'a number of milliseconds')
  EVENTS_POLL_MS: number = 250;

  @IsIn(['on', 'off'], { message: 'must be on or off' })
  REGISTRY_AUTH: string = 'on';

  /** Comma-separated origins, e.g. `https://dash.example.com`; unset: no cross-origin access. */
  @IsString()
  CORS_ORIGINS: string = '';

  @IntegerBetween(1000, 600_000, 'a number of milliseconds')
  HTTP_HEADERS_TIMEOUT_MS: number = 10_000;

  @IntegerBetween(1000, 3_600_000, 'a number of milliseconds')
  HTTP_REQUEST_TIMEOUT_MS: number = 30_000;

  /** Above the 60 s idle timeout of common load balancers (AWS ALB, nginx), which then close first: Fastify's own. */
  @IntegerBetween(1000, 3_600_000, 'a number of milliseconds')
  HTTP_KEEPALIVE_TIMEOUT_MS: number = 72_000;

  @Matches(RATE, { message: RATE_RULE })
  RATE_LIMIT: string = '10000/1s';

  @Matches(RATE, { message: RATE_RULE })
  HEARTBEAT_LIMIT: string = '50/10s';

  /** Failed authentications (401s) per client address; past it, 429 until the window ends. */
  @Matches(RATE, { message: RATE_RULE })
  AUTH_FAILURE_LIMIT: string = '20/1m';

  @Matches(/^(off|\d+\s*(ms|s|m|h|d)?)$/i, { message: 'must be a duration (10s to 1d) or off' })
  RESTART_GRACE_AFTER: string = '15s';

  @Matches(DURATION, { message: 'must be a duration (1s to 10m): seconds, or with a unit: 500ms, 30s, 2m' })
  SHUTDOWN_TIMEOUT: string = '10s';

  /** 1 turns the guard off: more than all of them can never expire. */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? Number(value) : value))
  @IsNumber({}, { message: 'must be a number between 0 and 1' })
  @Min(0, { message: 'must be a number between 0 and 1' })
  @Max(1, { message: 'must be a number between 0 and 1' })
  EXPIRY_GUARD_RATIO: number = 0.5;

  @IntegerBetween(1, 1_000_000)
  EXPIRY_GUARD_MIN: number = 10;

  @IntegerBetween(60, 86_400)
  EXPIRY_GUARD_MAX_SECONDS: number = 900;

  @IsOptional()
  @IsString()
  REGISTRY_API_KEYS_FILE: string | undefined = undefined;

  /** For development: the secrets are in the environment. */
  @IsOptional()
  @IsString()
  REGISTRY_API_KEYS: string | undefined = undefined;

  /** Comma-separated, from OPEN_ROUTES, or `none`. */
  @Matches(new RegExp(`^\\s*(none|(${OPEN_ROUTES.join('|')})(\\s*,\\s*(${OPEN_ROUTES.join('|')}))*)\\s*$`, 'i'), {
    message: `must be none, or a comma-separated list of ${OPEN_ROUTES.join(', ')}`,
  })
  REGISTRY_OPEN_ROUTES: string = OPEN_BY_DEFAULT.join(',');

  // Quotas (see QuotaConfig): a number, or off.
  @Matches(COUNT_OR_OFF, { message: `must be ${QUOTA_RULES.AGENT_QUOTA}` })
  AGENT_QUOTA: string = '10000';

  @Matches(COUNT_OR_OFF, { message: `must be ${QUOTA_RULES.WATCH_STREAMS_PER_KEY}` })
  WATCH_STREAMS_PER_KEY: string = '100';

  @Matches(COUNT_OR_OFF, { message: `must be ${QUOTA_RULES.WATCH_STREAMS_MAX}` })
  WATCH_STREAMS_MAX: string = '1000';
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads and validates the environment. Unset or empty variables take their defaults; a bad value throws a
 * ConfigError that names the variable, so the process stops before it serves anything.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const given = Object.fromEntries(
    Object.keys(new EnvironmentVariables())
      .filter((key) => env[key] !== undefined && env[key]?.trim() !== '')
      .map((key) => [key, env[key]]),
  );
  const vars = plainToInstance(EnvironmentVariables, given);
  const problems = validateSync(vars).map(
    (error) =>
      `${error.property}=${JSON.stringify(given[error.property])} ${Object.values(error.constraints ?? {})[0]}`,
  );

  const cleanupOff = vars.CLEANUP_CRON.trim().toLowerCase() === 'off';
  const cron = cleanupOff ? { valid: true } : validateCronExpression(vars.CLEANUP_CRON);
  if (!cron.valid) {
    problems.push(
      `CLEANUP_CRON=${JSON.stringify(vars.CLEANUP_CRON)} is not a valid cron expression: ${cron.error?.message}`,
    );
  }
  // The guard decides at cleanup runs only: a hold cannot end sooner than the next run.
  const cleanupGapMs = cron.valid && !cleanupOff ? longestCronGapMs(vars.CLEANUP_CRON) : 0;
  if (vars.EXPIRY_GUARD_RATIO < 1 && cleanupGapMs > vars.EXPIRY_GUARD_MAX_SECONDS * 1000) {
    problems.push(
      `CLEANUP_CRON=${JSON.stringify(vars.CLEANUP_CRON)} runs as much as ${gapText(cleanupGapMs)} apart, longer ` +
        `than EXPIRY_GUARD_MAX_SECONDS (${vars.EXPIRY_GUARD_MAX_SECONDS}): the mass-expiry guard decides at cleanup ` +
        'runs and could hold longer than that; run the cleanup more often, raise EXPIRY_GUARD_MAX_SECONDS, or turn ' +
        'the guard off with EXPIRY_GUARD_RATIO=1',
    );
  }
  const bodyLimitBytes = parseBodyLimit(vars.BODY_LIMIT);
  if (bodyLimitBytes !== undefined && (bodyLimitBytes < 1024 || bodyLimitBytes > 64 * 1024 * 1024)) {
    problems.push(`BODY_LIMIT=${JSON.stringify(vars.BODY_LIMIT)} must be between 1kb and 64mb`);
  }
  const eventsRetentionMs = parseDuration(vars.EVENTS_RETENTION);
  if (eventsRetentionMs !== undefined && (eventsRetentionMs < 1000 || eventsRetentionMs > 30 * 86_400_000)) {
    problems.push(`EVENTS_RETENTION=${JSON.stringify(vars.EVENTS_RETENTION)} must be between 1s and 30d`);
  }
  const eventsClientBufferBytes = parseBodyLimit(vars.EVENTS_CLIENT_BUFFER);
  if (
    eventsClientBufferBytes !== undefined &&
    (eventsClientBufferBytes < 1024 || eventsClientBufferBytes > 64 * 1024 * 1024)
  ) {
    problems.push(`EVENTS_CLIENT_BUFFER=${JSON.stringify(vars.EVENTS_CLIENT_BUFFER)} must be between 1kb and 64mb`);
  }
  const database = parseDatabaseUrl(vars.DATABASE_URL, {
    poolMax: vars.DATABASE_POOL_MAX,
    statementTimeoutMs: vars.DATABASE_STATEMENT_TIMEOUT_MS,
    connectTimeoutMs: vars.DATABASE_CONNECT_TIMEOUT_MS,
  });
  if (typeof database === 'string' && typeof vars.DATABASE_URL === 'string') {
    problems.push(`DATABASE_URL=${JSON.stringify(maskPassword(vars.DATABASE_URL))} ${database}`);
  }
  const auth = authConfigOf(vars, problems);
  const corsOrigins = vars.CORS_ORIGINS.split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
  for (const origin of corsOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(`CORS_ORIGINS: "${origin}" is not an origin (scheme://host[:port], no path)`);
    }
  }
  const rates = {
    RATE_LIMIT: vars.RATE_LIMIT,
    HEARTBEAT_LIMIT: vars.HEARTBEAT_LIMIT,
    AUTH_FAILURE_LIMIT: vars.AUTH_FAILURE_LIMIT,
  };
  for (const [variable, value] of Object.entries(rates)) {
    const rate = RATE.test(value) ? parseRate(value) : undefined;
    if (rate && (rate.limit < 1 || rate.windowMs < 100 || rate.windowMs > 3_600_000)) {
      problems.push(`${variable}=${JSON.stringify(value)} must allow at least 1 request in a window of 100ms to 1h`);
    }
  }
  const restartGraceAfterMs =
    vars.RESTART_GRACE_AFTER.trim().toLowerCase() === 'off' ? undefined : parseDuration(vars.RESTART_GRACE_AFTER);
  if (restartGraceAfterMs !== undefined && (restartGraceAfterMs < 10_000 || restartGraceAfterMs > 86_400_000)) {
    problems.push(`RESTART_GRACE_AFTER=${JSON.stringify(vars.RESTART_GRACE_AFTER)} must be between 10s and 1d, or off`);
  }
  const shutdownTimeoutMs = parseDuration(vars.SHUTDOWN_TIMEOUT);
  if (shutdownTimeoutMs !== undefined && (shutdownTimeoutMs < 1000 || shutdownTimeoutMs > 600_000)) {
    problems.push(`SHUTDOWN_TIMEOUT=${JSON.stringify(vars.SHUTDOWN_TIMEOUT)} must be between 1s and 10m`);
  }
  const quotas: QuotaConfig = {
    agentsPerKey: quotaOf('AGENT_QUOTA', vars.AGENT_QUOTA, problems),
    watchStreamsPerKey: quotaOf('WATCH_STREAMS_PER_KEY', vars.WATCH_STREAMS_PER_KEY, problems),
    watchStreamsMax: quotaOf('WATCH_STREAMS_MAX', vars.WATCH_STREAMS_MAX, problems),
  };
  if (vars.HTTP_REQUEST_TIMEOUT_MS < vars.HTTP_HEADERS_TIMEOUT_MS) {
    problems.push('HTTP_REQUEST_TIMEOUT_MS must not be shorter than HTTP_HEADERS_TIMEOUT_MS');
  }
  if (problems.length > 0) {
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }

  const level = vars.LOG_LEVEL === 'info' ? 'log' : (vars.LOG_LEVEL as LogLevel);
  return {
    port: vars.PORT,
    host: vars.HOST,
    httpAdapter: vars.HTTP_ADAPTER,
    database: database as DatabaseConfig,
    cleanupCron: cleanupOff ? undefined : vars.CLEANUP_CRON,
    bodyLimitBytes: bodyLimitBytes!,
    logLevels: LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1),
    logFormat: vars.LOG_FORMAT,
    migrateOnBoot: vars.MIGRATE_ON_BOOT,
    writeBatchMax: vars.WRITE_BATCH_MAX,
    writeQueueMax: vars.WRITE_QUEUE_MAX,
    eventsRetentionMs: eventsRetentionMs!,
    eventsKeepaliveMs: vars.EVENTS_KEEPALIVE_SECONDS * 1000,
    eventsClientBufferBytes: eventsClientBufferBytes!,
    eventsPollMs: vars.EVENTS_POLL_MS,
    auth,
    corsOrigins,
    headersTimeoutMs: vars.HTTP_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: vars.HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: vars.HTTP_KEEPALIVE_TIMEOUT_MS,
    rateLimit: parseRate(vars.RATE_LIMIT),
    heartbeatLimit: parseRate(vars.HEARTBEAT_LIMIT),
    restartGraceAfterMs,
    shutdownTimeoutMs: shutdownTimeoutMs!,
    expiryGuard: {
      ratio: vars.EXPIRY_GUARD_RATIO,
      min: vars.EXPIRY_GUARD_MIN,
      maxMs: vars.EXPIRY_GUARD_MAX_SECONDS * 1000,
    },
    quotas,
  };
}

/** The keys from REGISTRY_API_KEYS_FILE and REGISTRY_API_KEYS (both may be given), and the mode they make. */
function authConfigOf(vars: EnvironmentVariables, problems: string[]): AuthConfig {
  const keys: ApiKey[] = [];
  const add = (variable: string, parsed: ApiKey[] | string[]) => {
    if (parsed.every((item): item is ApiKey => typeof item !== 'string')) keys.push(...parsed);
    else problems.push(...parsed.map((problem) => `${variable}: ${problem}`));
  };
  if (vars.REGISTRY_API_KEYS_FILE !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(vars.REGISTRY_API_KEYS_FILE, 'utf8');
    } catch (error) {
      problems.push(
        `REGISTRY_API_KEYS_FILE=${JSON.stringify(vars.REGISTRY_API_KEYS_FILE)} cannot be read: ${(error as Error).message}`,
      );
    }
    if (text !== undefined) add(`REGISTRY_API_KEYS_FILE ${vars.REGISTRY_API_KEYS_FILE}`, parseKeysFile(text));
  }
  // The secrets in this variable are not repeated in the messages.
  if (vars.REGISTRY_API_KEYS !== undefined) add('REGISTRY_API_KEYS', parseKeysVariable(vars.REGISTRY_API_KEYS));
  problems.push(...keySetProblems(keys).map((problem) => `API keys: ${problem}`));
  if (vars.REGISTRY_AUTH === 'off' && keys.length > 0) {
    problems.push('REGISTRY_AUTH=off serves everyone without a key: remove the keys, or REGISTRY_AUTH=off');
  }
  const mode = vars.REGISTRY_AUTH === 'off' ? 'off' : keys.length > 0 ? 'keys' : 'protected';
  const listed = vars.REGISTRY_OPEN_ROUTES.toLowerCase().split(',');
  const openRoutes = OPEN_ROUTES.filter((route) => listed.some((item) => item.trim() === route));
  // Parsed only once valid (loadConfig checks it with the other rates).
  const failureLimit = RATE.test(vars.AUTH_FAILURE_LIMIT) ? parseRate(vars.AUTH_FAILURE_LIMIT) : undefined;
  return { mode, keys, keysFile: vars.REGISTRY_API_KEYS_FILE, openRoutes, failureLimit };
}
