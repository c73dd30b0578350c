import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { AuthSection } from './auth.config';
import { AuthGuard } from './auth.guard';
import { KeysFileReload } from './keys-reload';
import { RateLimitGuard, throttlerOptions, WindowCounters } from './rate-limit';

/**
 * Who may call the registry, and how often: the API keys (reloaded from REGISTRY_API_KEYS_FILE on SIGHUP), the
 * guard that authenticates every request and checks its route's `@Access`, and the rate limits. Both guards are
 * global, so an extension module's routes are guarded like the registry's.
 */
@Module({})
export class AuthModule {
  static forRoot(config: AuthSection): DynamicModule {
    return {
      module: AuthModule,
      imports: [ThrottlerModule.forRoot(throttlerOptions(config, new WindowCounters()))],
      providers: [
        KeysFileReload,
        // In this order: the rate limits count per key, which AuthGuard finds.
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_GUARD, useClass: RateLimitGuard },
      ],
    };
  }
}
