import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { DatabaseModule } from '../database/database.module';
import { ExpiryGuard } from './expiry-guard';
import { ExpiryGuardController } from './expiry-guard.controller';
import { LeaseGrace } from './lease-grace';
import { RegistryController } from './registry.controller';
import { REGISTRY_METRICS } from './registry.metrics';
import { RegistryService } from './registry.service';
import { RegistrationPolicies } from './registration-policy';
import { REGISTRY_DATABASE } from './registry.database';
import { RegistryEvents } from './registry-events';
import { RegistryWriter } from './registry-writer';

@Module({
  imports: [DatabaseModule.forFeature(REGISTRY_DATABASE), DiscoveryModule],
  controllers: [RegistryController, ExpiryGuardController],
  providers: [
    RegistryService,
    RegistryWriter,
    RegistryEvents,
    RegistrationPolicies,
    LeaseGrace,
    ExpiryGuard,
    ...REGISTRY_METRICS,
  ],
  exports: [RegistryService, LeaseGrace, ExpiryGuard],
})
export class RegistryModule {}
