import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_CONFIG } from './environment';

/** Makes the configuration validated at boot (src/app.config.ts) injectable everywhere as APP_CONFIG. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: object): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
