/**
 * Everything an extension module needs, in one import (see docs/extending.md): compose the registry with your modules
 * (AppModule.forRoot), guard and document your routes (Access, Caller, ApiProblemResponse), listen to the registry's
 * events (the AGENT_* names and RegistryEvent), review registrations (RegistrationPolicy), bring your own tables
 * (DatabaseModule.forFeature), and answer errors as problem details (the exceptions).
 */

// Composition: a custom main.ts and migrate script.
export { AppModule, type AppModuleOptions } from './app.module';
export { startRegistry } from './bootstrap';
export { configureApp, createAppHttpAdapter } from './app.setup';
export { type AppConfig, loadConfig } from './app.config';
export { APP_CONFIG, ConfigError } from './config/environment';
export { migrateDatabase } from './migrate';

// Access: who may call a route, and who called it.
export { Access, type AccessLevel } from './auth/access.decorator';
export type { Role } from './auth/api-keys';
export type { Principal } from './auth/auth.guard';
export { Caller } from './auth/caller.decorator';

// The registry's events on the in-process bus (@nestjs/event-emitter: subscribe with @OnEvent).
export {
  AGENT_DEREGISTERED,
  AGENT_EXPIRED,
  AGENT_REGISTERED,
  AGENT_UPDATED,
  REGISTRY_EVENT_NAMES,
  type RegistryEvent,
  type RegistryEventType,
} from './registry/registry-events';
export { AgentInfo } from './registry/dto/agent-info.dto';

// Registration policies.
export {
  type RegistrationContext,
  RegistrationPolicy,
  type RegistrationPolicyOptions,
  RegistrationRefusedException,
} from './registry/registration-policy';
export { RegisterAgentRequest } from './registry/dto/register-agent.dto';
// The limits an amended registration must keep, as the request body's rules state them.
export { LABELS_MAX } from './registry/discovery';

// A module's own tables.
export type { DatabaseFeature, EntityClass } from './database/database-feature';
export { DatabaseModule } from './database/database.module';

// Errors as problem details (any Nest HttpException is one too), and their documentation.
export { ApiProblemResponse } from './common/api-problem-response.decorator';
export { PROBLEM_JSON, ProblemDetails } from './common/problem-details.dto';
export { RetryLaterException } from './common/retry-later.exception';
export { TooManyRequestsException } from './common/too-many-requests.exception';

// Time, injectable and faked in tests.
export { Clock } from './common/clock';
