import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { AuthGuard } from './auth/auth.guard';
import { KeysFileReload } from './auth/keys-reload';
import { RateLimitGuard, throttlerOptions, WindowCounters } from './auth/rate-limit';
import { CommonModule } from './common/common.module';
import { HttpDrain } from './common/http-drain';
import { ProblemDetailsFilter } from './common/problem-details.filter';
import { RequestValidationPipe } from './common/request-validation.pipe';
import { AppConfig } from './app.config';
import { ConfigModule } from './config/config.module';
import { DashboardModule } from './dashboard/dashboard.module';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { loggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { RegistryModule } from './registry/registry.module';
import { SchedulerModule } from './scheduler/scheduler.module';
import { ServiceDiscoveryModule } from './service-discovery/service-discovery.module';

@Module({})
export class AppModule {
  /** The whole registry, for the given configuration. Tests build it the same way main.ts does. */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        loggingModule(config),
        CommonModule,
        DatabaseModule.forRoot(config.database),
        RegistryModule,
        ServiceDiscoveryModule,
        SchedulerModule,
        HealthModule,
        MetricsModule,
        DashboardModule,
        ThrottlerModule.forRoot(throttlerOptions(config, new WindowCounters())),
      ],
      providers: [
        HttpDrain,
        KeysFileReload,
        // In this order: the rate limits count per key, which AuthGuard finds.
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_GUARD, useClass: RateLimitGuard },
        { provide: APP_PIPE, useClass: RequestValidationPipe },
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
      ],
    };
  }
}
