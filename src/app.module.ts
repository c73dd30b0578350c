import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { AuthModule } from './auth/auth.module';
import { CommonModule } from './common/common.module';
import { HttpDrain } from './common/http-drain';
import { ProblemDetailsFilter } from './common/problem-details.filter';
import { RequestValidationPipe } from './common/request-validation.pipe';
import { AppConfig } from './app.config';
import { ConfigModule } from './config/config.module';
import { DashboardModule } from './dashboard/dashboard.module';
import { DatabaseFeature, featuresIn } from './database/database-feature';
import { DatabaseModule } from './database/database.module';
import { EventsModule } from './events/events.module';
import { HealthModule } from './health/health.module';
import { loggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { CORE_MIGRATIONS } from './migrations';
import { RegistryModule } from './registry/registry.module';
import { SchedulerModule } from './scheduler/scheduler.module';
import { ServiceDiscoveryModule } from './service-discovery/service-discovery.module';

/** What AppModule.forRoot composes beside the registry. */
export interface AppModuleOptions {
  /**
   * Extension modules, imported after the registry's own: their routes (guarded by `@Access`, in the OpenAPI
   * document), their event listeners (`@OnEvent`), their registration policies, their tables
   * (`DatabaseModule.forFeature`). See docs/extending.md.
   */
  imports?: DynamicModule['imports'];
}

/** The registry's feature modules, in the order they start. */
export const CORE_FEATURE_MODULES = [
  RegistryModule,
  // Before ServiceDiscoveryModule: the OpenAPI document lists /admin/expiry-guard right after /agents.
  SchedulerModule,
  ServiceDiscoveryModule,
  HealthModule,
  // Where /events has always been in the OpenAPI document (Nest documents the modules in the order it found them).
  EventsModule,
  MetricsModule,
  DashboardModule,
];

/**
 * Every table the registry composed with `imports` uses: the committed migrations first, then the entities and
 * migrations each module declares (DatabaseModule.forFeature), found in the modules' import graph.
 */
export function databaseFeatures(imports: AppModuleOptions['imports'] = []): DatabaseFeature[] {
  return [CORE_MIGRATIONS, ...featuresIn([...CORE_FEATURE_MODULES, ...imports])];
}

@Module({})
export class AppModule {
  /**
   * The whole registry, for the given configuration, with the extension modules `options.imports` names. Tests
   * build it the same way main.ts does.
   */
  static forRoot(config: AppConfig, options: AppModuleOptions = {}): DynamicModule {
    const extensions = options.imports ?? [];
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        loggingModule(config),
        CommonModule,
        EventEmitterModule.forRoot(),
        // The ORM starts knowing every module's entities and migrations (DatabaseModule.forFeature).
        DatabaseModule.forRoot(config.database, databaseFeatures(extensions)),
        AuthModule.forRoot(),
        ...CORE_FEATURE_MODULES,
        ...extensions,
      ],
      providers: [
        HttpDrain,
        { provide: APP_PIPE, useClass: RequestValidationPipe },
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
      ],
    };
  }
}
