import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard';
import { KeysFileReload } from './keys-reload';
import { RateLimitGuard } from './rate-limit';

/**
 * Who may call the registry, and how often: the API keys (reloaded from REGISTRY_API_KEYS_FILE on SIGHUP), the
 * guard that authenticates every request and checks its route's `@Access`, and the rate limits. Both guards are
 * global, so an extension module's routes are guarded like the registry's.
 */
@Module({})
export class AuthModule {
  static forRoot(): DynamicModule {
    return {
      module: AuthModule,
      providers: [
        KeysFileReload,
        // In this order: the rate limits count per key, which AuthGuard finds.
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_GUARD, useClass: RateLimitGuard },
      ],
    };
  }
}
