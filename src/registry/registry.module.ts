import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { DatabaseModule } from '../database/database.module';
import { RegistrationPolicies } from './registration-policy';
import { REGISTRY_DATABASE } from './registry.database';
import { RegistryController } from './registry.controller';
import { REGISTRY_METRICS } from './registry.metrics';
import { RegistryService } from './registry.service';
import { RegistryEvents } from './registry-events';
import { RegistryWriter } from './persistence/registry-writer';

@Module({
  imports: [DatabaseModule.forFeature(REGISTRY_DATABASE), DiscoveryModule],
  controllers: [RegistryController],
  providers: [RegistryService, RegistryWriter, RegistryEvents, RegistrationPolicies, ...REGISTRY_METRICS],
  exports: [RegistryService, RegistryEvents],
})
export class RegistryModule {}
