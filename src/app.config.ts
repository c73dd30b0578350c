import { authSection, AuthSection } from './auth/auth.config';
import { httpSection, HttpSection } from './common/http.config';
import { ProblemOrder, readSections } from './config/environment';
import { databaseSection, DatabaseSection } from './database/database.config';
import { eventsSection, EventsSection } from './events/events.config';
import { loggingSection, LoggingSection } from './logging/logging.config';
import { registrySection, RegistrySection } from './registry/registry.config';
import { schedulerSection, SchedulerSection } from './scheduler/scheduler.config';

/**
 * The settings the registry runs with, validated once at boot from the environment: every feature's section, one
 * flat object (README's config table lists the variables).
 */
export interface AppConfig
  extends
    HttpSection,
    DatabaseSection,
    LoggingSection,
    AuthSection,
    Omit<RegistrySection, 'quotas'>,
    Omit<EventsSection, 'quotas'>,
    SchedulerSection {
  /** Per-key quotas (see AgentQuota, WatchSlots); undefined: off. */
  quotas: RegistrySection['quotas'] & EventsSection['quotas'];
}

/**
 * The order a boot error lists its problems in, as when one class declared every variable: first malformed values,
 * by variable, then refused ones, by the check that refused them.
 */
const PROBLEM_ORDER: ProblemOrder = {
  malformed: [
    'PORT',
    'HOST',
    'HTTP_ADAPTER',
    'DATABASE_URL',
    'DATABASE_POOL_MAX',
    'DATABASE_STATEMENT_TIMEOUT_MS',
    'DATABASE_CONNECT_TIMEOUT_MS',
    'CLEANUP_CRON',
    'BODY_LIMIT',
    'LOG_LEVEL',
    'LOG_FORMAT',
    'MIGRATE_ON_BOOT',
    'WRITE_BATCH_MAX',
    'WRITE_QUEUE_MAX',
    'EVENTS_RETENTION',
    'EVENTS_KEEPALIVE_SECONDS',
    'EVENTS_CLIENT_BUFFER',
    'EVENTS_POLL_MS',
    'REGISTRY_AUTH',
    'CORS_ORIGINS',
    'HTTP_HEADERS_TIMEOUT_MS',
    'HTTP_REQUEST_TIMEOUT_MS',
    'HTTP_KEEPALIVE_TIMEOUT_MS',
    'RATE_LIMIT',
    'HEARTBEAT_LIMIT',
    'AUTH_FAILURE_LIMIT',
    'RESTART_GRACE_AFTER',
    'SHUTDOWN_TIMEOUT',
    'EXPIRY_GUARD_RATIO',
    'EXPIRY_GUARD_MIN',
    'EXPIRY_GUARD_MAX_SECONDS',
    'REGISTRY_API_KEYS_FILE',
    'REGISTRY_API_KEYS',
    'REGISTRY_OPEN_ROUTES',
    'AGENT_QUOTA',
    'WATCH_STREAMS_PER_KEY',
    'WATCH_STREAMS_MAX',
  ],
  refused: [
    'CLEANUP_CRON',
    'BODY_LIMIT',
    'EVENTS_RETENTION',
    'EVENTS_CLIENT_BUFFER',
    'DATABASE_URL',
    'REGISTRY_API_KEYS_FILE',
    'REGISTRY_API_KEYS',
    'REGISTRY_AUTH',
    'CORS_ORIGINS',
    'RATE_LIMIT',
    'HEARTBEAT_LIMIT',
    'AUTH_FAILURE_LIMIT',
    'RESTART_GRACE_AFTER',
    'SHUTDOWN_TIMEOUT',
    'AGENT_QUOTA',
    'WATCH_STREAMS_PER_KEY',
    'WATCH_STREAMS_MAX',
    'HTTP_REQUEST_TIMEOUT_MS',
  ],
};

/**
 * Reads and validates the environment. Unset or empty variables take their defaults; a bad value throws a
 * ConfigError that names the variable, so the process stops before it serves anything.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const { http, database, logging, auth, registry, events, scheduler } = readSections(
    env,
    {
      http: httpSection,
      database: databaseSection,
      logging: loggingSection,
      auth: authSection,
      registry: registrySection,
      events: eventsSection,
      scheduler: schedulerSection,
    },
    PROBLEM_ORDER,
  );
  return {
    ...http,
    ...database,
    ...logging,
    ...auth,
    ...registry,
    ...events,
    ...scheduler,
    quotas: { ...registry.quotas, ...events.quotas },
  };
}
